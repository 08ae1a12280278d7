"""Streaming batch scoring: formats, chunking, cache reuse, resume and atomic output."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pandas as pd
import pytest
from batch_support import load_fake, save_fake_model, sorted_scores, write_inputs

from relevance.batch import score_files, score_frame, state_path
from relevance.batch.sinks import ResumeError, partial_path, read_scores
from relevance.io.reader import read_input, read_inputs
from relevance.io.schema import InputError
from relevance.io.streams import iter_chunks, sources

OUT_SUFFIXES = ["jsonl", "jsonl.gz", "csv", "parquet"]


@pytest.fixture
def fake_folder(tmp_path, fitted_fake_model):
    return save_fake_model(fitted_fake_model[0], tmp_path / "model")


@pytest.fixture
def inputs(tmp_path):
    return write_inputs(tmp_path)


def _run(folder, inputs, out, cache_dir=None, **kw):
    model, inner = load_fake(folder, cache_dir=cache_dir, use_cache=cache_dir is not None)
    summary = score_files(model, inputs, out, progress=None, **kw)
    return summary, inner


def test_readers_agree_on_every_format(inputs):
    frames = {k: read_inputs([p]) for k, p in inputs.items()}
    base = frames["jsonl"]
    assert base["label"].dtype == "Int64" and len(base) == 23 * 7
    for name, frame in frames.items():
        pd.testing.assert_frame_equal(frame, base, check_dtype=False, obj=name)
        one_shot = read_input(inputs[name])  # the whole-file reader cleans texts the same way
        pd.testing.assert_frame_equal(frame, one_shot, check_dtype=False, obj=name)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "jsonl"])
def test_chunks_hold_whole_feeds_across_read_blocks(inputs, fmt):
    srcs = sources([inputs[fmt]])
    chunks = list(iter_chunks(srcs, feeds_per_chunk=4, block_rows=5))  # feeds of 7 rows
    assert [c["feed_id"].nunique() for c in chunks] == [4] * 5 + [3]
    whole = pd.concat(chunks, ignore_index=True)
    pd.testing.assert_frame_equal(whole, read_inputs([inputs[fmt]]))
    skipped = list(iter_chunks(srcs, feeds_per_chunk=4, skip_feeds=8, block_rows=5))
    pd.testing.assert_frame_equal(
        pd.concat(skipped, ignore_index=True), pd.concat(chunks[2:], ignore_index=True)
    )


@pytest.mark.parametrize("src", ["jsonl", "jsonl.gz", "csv", "parquet"])
@pytest.mark.parametrize("dst", OUT_SUFFIXES)
def test_each_format_in_and_out_matches_one_shot(tmp_path, fake_folder, inputs, src, dst):
    out = tmp_path / f"scores.{dst}"
    summary, _ = _run(fake_folder, [inputs[src]], out, feeds_per_chunk=5)
    assert summary.complete and summary.feeds == 23 and summary.chunks == 5
    model, _ = load_fake(fake_folder, use_cache=False)
    expected = score_frame(read_inputs([inputs["jsonl"]]), model)
    got = read_scores(out)
    assert list(got.columns) == list(expected.columns)
    pd.testing.assert_frame_equal(
        sorted_scores(got), sorted_scores(expected), check_dtype=False, atol=1e-6
    )
    assert not partial_path(out).exists() and not state_path(out).exists()


@pytest.mark.parametrize("dst", OUT_SUFFIXES)
def test_chunk_size_never_changes_the_bytes(tmp_path, fake_folder, inputs, dst):
    outputs = []
    for n in (1, 4, 1000):
        out = tmp_path / f"n{n}.{dst}"
        _run(fake_folder, [inputs["csv"]], out, feeds_per_chunk=n)
        if dst == "parquet":  # one row group per chunk: compare the rows
            outputs.append(pd.read_parquet(out).to_csv().encode())
        else:
            data = out.read_bytes()
            outputs.append(gzip.decompress(data) if dst.endswith(".gz") else data)  # member/chunk
    assert outputs[0] == outputs[1] == outputs[2]


def test_one_chunk_is_embedded_in_one_call(tmp_path, fake_folder, inputs):
    _, inner = _run(fake_folder, [inputs["jsonl"]], tmp_path / "o.jsonl", feeds_per_chunk=10)
    assert inner.calls == 3  # 23 feeds in chunks of 10: one encode call per chunk


def test_second_run_encodes_nothing(tmp_path, fake_folder, inputs):
    cache = tmp_path / "cache"
    first, inner1 = _run(fake_folder, [inputs["jsonl"]], tmp_path / "a.jsonl", cache)
    second, inner2 = _run(fake_folder, [inputs["csv"]], tmp_path / "b.jsonl", cache)
    assert inner1.texts_encoded > 0 and first.encoded == inner1.texts_encoded
    assert inner2.calls == 0 and second.encoded == 0 and second.hit_rate == 1.0
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


@pytest.mark.parametrize("dst", OUT_SUFFIXES)
def test_resume_after_interruption_is_byte_identical(tmp_path, fake_folder, inputs, dst):
    full = tmp_path / f"full.{dst}"
    _run(fake_folder, [inputs["jsonl"]], full, feeds_per_chunk=4)
    out = tmp_path / f"out.{dst}"
    stopped, _ = _run(fake_folder, [inputs["jsonl"]], out, feeds_per_chunk=4, max_chunks=2)
    assert not stopped.complete and stopped.feeds == 8
    assert not out.exists() and partial_path(out).exists()  # atomic: no OUT until done
    state = json.loads(state_path(out).read_text())
    assert state["feeds_done"] == 8 and state["chunks_done"] == 2
    if dst != "parquet":  # a crash after writing, before the commit: junk past the offset
        with open(partial_path(out), "ab") as fh:
            fh.write(b'{"half a line')
    resumed, inner = _run(fake_folder, [inputs["jsonl"]], out, feeds_per_chunk=4, resume=True)
    assert resumed.complete and resumed.skipped_feeds == 8 and resumed.feeds == 15
    assert out.read_bytes() == full.read_bytes()
    assert not state_path(out).exists() and not partial_path(out).exists()


def test_resume_refuses_changed_input_or_options(tmp_path, fake_folder, inputs):
    out = tmp_path / "out.jsonl"
    _run(fake_folder, [inputs["jsonl"]], out, feeds_per_chunk=4, max_chunks=1)
    with pytest.raises(ResumeError, match="options differ"):
        _run(fake_folder, [inputs["jsonl"]], out, feeds_per_chunk=5, resume=True)
    with pytest.raises(ResumeError, match="input files changed"):
        _run(fake_folder, [inputs["csv"]], out, feeds_per_chunk=4, resume=True)
    with inputs["jsonl"].open("a") as fh:
        fh.write("\n")
    with pytest.raises(ResumeError, match="input files changed"):
        _run(fake_folder, [inputs["jsonl"]], out, feeds_per_chunk=4, resume=True)


def test_resume_refuses_another_model(tmp_path, fake_folder, inputs, fitted_fake_model):
    out = tmp_path / "out.jsonl"
    _run(fake_folder, [inputs["jsonl"]], out, feeds_per_chunk=4, max_chunks=1)
    model, _ = load_fake(fake_folder, use_cache=False)
    model.thresholds_["story"] += 0.1
    with pytest.raises(ResumeError, match="model"):
        score_files(model, [inputs["jsonl"]], out, feeds_per_chunk=4, resume=True, progress=None)


def test_resume_with_nothing_to_resume_starts(tmp_path, fake_folder, inputs, capsys, caplog):
    out = tmp_path / "out.csv"
    with caplog.at_level("WARNING", logger="relevance"):
        summary, _ = _run(fake_folder, [inputs["csv"]], out, resume=True)
    assert summary.complete and out.exists()
    assert "nothing to resume" in caplog.text
    assert capsys.readouterr().err == ""  # the library logs; only the CLI writes to stderr


def test_failed_run_leaves_earlier_output_alone(tmp_path, fake_folder, inputs):
    out = tmp_path / "out.jsonl"
    out.write_text("previous result\n")
    bad = tmp_path / "bad.jsonl"
    bad.write_text(inputs["jsonl"].read_text() + '{"feed_id": "x", "items": []}\n')
    with pytest.raises(InputError, match="bad.jsonl:24"):
        _run(fake_folder, [bad], out, feeds_per_chunk=4)
    assert out.read_text() == "previous result\n"


def test_split_feed_in_a_table_is_refused(tmp_path, fake_folder):
    from fakes import feeds_frame

    frame = feeds_frame(4, 3)
    frame = pd.concat([frame.iloc[:2], frame.iloc[3:], frame.iloc[2:3]], ignore_index=True)
    path = tmp_path / "split.csv"
    frame.to_csv(path, index=False)
    with pytest.raises(InputError, match="contiguous"):
        _run(fake_folder, [path], tmp_path / "o.jsonl")


def test_labels_pass_through_and_missing_ones_are_left_out(tmp_path, fake_folder, inputs):
    lines = inputs["jsonl"].read_text().splitlines()
    feed = json.loads(lines[0])
    for item in feed["items"]:
        item.pop("label")
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([*lines[1:3], json.dumps(feed)]) + "\n")
    out = tmp_path / "o.jsonl"
    _run(fake_folder, [path], out, feeds_per_chunk=2)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert all("label" in r for r in rows[:14]) and not any("label" in r for r in rows[14:])
    assert {r["label"] for r in rows[:14]} == {0, 1}


def test_stdout_streams_each_chunk(fake_folder, inputs, capsys):
    _run(fake_folder, [inputs["parquet"]], None, fmt="csv", feeds_per_chunk=3)
    text = capsys.readouterr().out
    assert text.count("feed_id,item_id") == 1 and len(text.splitlines()) == 1 + 23 * 7
    with pytest.raises(ResumeError, match="--out"):
        _run(fake_folder, [inputs["jsonl"]], None, resume=True)


def test_progress_goes_to_the_callback_and_the_library_prints_nothing(
    tmp_path, fake_folder, inputs, capsys
):
    model, _ = load_fake(fake_folder, cache_dir=tmp_path / "c")
    events = []
    out = tmp_path / "o.jsonl"
    score_files(model, [inputs["jsonl"]], out, feeds_per_chunk=5, progress=events.append)
    assert capsys.readouterr() == ("", "")
    assert [e.done for e in events] == [0, 5, 10, 15, 20, 23, 23]
    assert all(e.total == 23 and e.unit == "feed" for e in events)
    assert events[-1].finished and "items/s" in events[-1].info and "cache hits" in events[-1].info


def test_the_cli_renders_progress_as_a_bar_on_stderr(tmp_path, fake_folder, inputs, capsys):
    import fake_cli

    args = ["score", str(inputs["jsonl"]), "--model", str(fake_folder), "--feeds-per-chunk", "5"]
    assert fake_cli.main([*args, "--out", str(tmp_path / "o.jsonl")]) == 0
    err = capsys.readouterr().err
    assert "23/23" in err and "items/s" in err and "cache hits" in err


def test_score_frame_is_model_score(fitted_fake_model):
    model, frame = fitted_fake_model
    np.testing.assert_allclose(
        score_frame(frame, model)["probability"], model.score_frame(frame)["probability"]
    )
