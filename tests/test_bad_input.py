"""Every row of README's bad-input table: an error by default, set aside with --on-error skip.

By default the CLI exits 2 naming file, line (or row), field, value and what was
expected, and leaves no output that looks complete. With ``--on-error skip`` each
bad record is in ``OUT.rejects.jsonl`` and every good record is scored exactly as
it would be in a clean input. The fake encoder stands in for MiniLM throughout.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import fake_cli
import pandas as pd
import pytest
from bad_cases import CASES, ERROR_ONLY
from bad_inputs import Case, feeds, jsonl, table
from batch_support import load_fake, save_fake_model
from training_helpers import long_rows

from relevance.batch import score_files, state_path
from relevance.batch.rejects import rejects_path
from relevance.batch.sinks import partial_path, read_scores
from relevance.cli import main

COMPARED = ["feed_id", "item_id", "title", "probability", "relevant", "rank"]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, fitted_fake_model):
    return save_fake_model(fitted_fake_model[0], tmp_path_factory.mktemp("bad") / "model")


def _score(folder: Path, paths: list[Path], out: Path, **kw):
    model, _ = load_fake(folder, use_cache=False)
    return score_files(model, paths, out, progress=None, **kw)


def _rows(path: Path) -> pd.DataFrame:
    frame = read_scores(path)
    if not len(frame):
        return pd.DataFrame(columns=COMPARED)
    frame = frame.astype({"feed_id": str, "item_id": str})[COMPARED]
    return frame.sort_values(["feed_id", "item_id"]).reset_index(drop=True)


def _cli(folder: Path, paths: list[Path], out: Path, *extra: str) -> int:
    args = ["score", *map(str, paths), "--model", str(folder), "--out", str(out)]
    return fake_cli.main([*args, "--no-cache", "--no-progress", "--feeds-per-chunk", "1", *extra])


@pytest.mark.parametrize("case", CASES + ERROR_ONLY, ids=lambda c: c.id)
def test_by_default_the_first_bad_record_stops_the_run(case: Case, folder, tmp_path, capsys):
    built = case.build(tmp_path)
    out = tmp_path / "out.jsonl"
    out.write_text("an earlier result\n")
    assert _cli(folder, built.paths, out) == 2
    err = capsys.readouterr().err
    assert err.startswith("relevance score: error: ") and "Traceback" not in err
    assert re.search(built.error, err), err
    if built.rejects:  # the message names the file, and the line or row, of a bad record
        name = built.rejects[0][1]
        places = [p for _, n, p, _ in built.rejects if n == name and p is not None]
        assert name in err
        assert not places or any(f"{name}:{p}" in err or f"row {p}" in err for p in places)
    assert out.read_text() == "an earlier result\n"  # untouched, nothing that looks complete
    assert not partial_path(out).exists() and not state_path(out).exists()
    assert not rejects_path(out).exists()


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_on_error_skip_scores_every_good_record(case: Case, folder, tmp_path):
    built = case.build(tmp_path)
    out = tmp_path / "out.jsonl"
    summary = _score(folder, built.paths, out, on_error="skip", feeds_per_chunk=2)
    lines = [json.loads(x) for x in rejects_path(out).read_text(encoding="utf-8").splitlines()]
    got = [(r["level"], Path(r["file"]).name, r["line"] or r["row"], r["field"]) for r in lines]
    want = built.rejects
    assert [g[:2] + g[3:] for g in got] == [w[:2] + w[3:] for w in want]
    assert all(w[2] is None or g[2] == w[2] for g, w in zip(got, want, strict=True)), got
    for r in lines:
        assert r["reason"].startswith(r["file"]) and r["expected"]
        assert set(r) >= {"record", "value", "expected", "feed_id", "item_id"}
    assert summary.rejected == {
        level: sum(g[0] == level for g in got) for level in ("file", "feed", "item")
    }
    clean = jsonl(tmp_path / "clean.jsonl", built.good)
    alone = tmp_path / "alone.jsonl"
    _score(folder, [clean], alone)
    pd.testing.assert_frame_equal(_rows(out), _rows(alone), check_dtype=False)


def test_skip_reports_the_counts_at_the_end(folder, tmp_path, capsys):
    f = feeds()
    path = jsonl(tmp_path / "in.jsonl", [f[0], "{not json", f[1], f[2], b"\xff\xfe"])
    out = tmp_path / "out.csv"
    assert _cli(folder, [path], out, "--on-error", "skip") == 0
    err = capsys.readouterr().err
    assert "scored 3 feeds (12 items); rejected 2 records (0 files, 2 feeds, 0 items)" in err
    assert str(rejects_path(out)) in err and out.exists()


def test_skip_with_nothing_good_writes_an_empty_output(folder, tmp_path, capsys):
    empty = tmp_path / "empty.jsonl"
    empty.write_bytes(b"")
    out = tmp_path / "out.csv"
    assert _cli(folder, [empty], out, "--on-error", "skip") == 0
    assert "scored 0 feeds (0 items); rejected 1 records (1 files" in capsys.readouterr().err
    header = "feed_id,item_id,title,probability,p_story,p_topic,relevant,rank"
    assert out.read_text().startswith(header)
    assert len(out.read_text().splitlines()) == 1


def test_skip_needs_an_output_file(folder, tmp_path, capsys):
    path = jsonl(tmp_path / "in.jsonl", feeds())
    args = ["score", str(path), "--model", str(folder), "--on-error", "skip", "--no-progress"]
    assert fake_cli.main(args) == 2
    assert "--on-error skip needs --out FILE" in capsys.readouterr().err


@pytest.mark.parametrize("what", ["missing", "folder", "truncated-gzip"])
def test_an_unreadable_input_stops_the_run_even_when_skipping(folder, tmp_path, capsys, what):
    from bad_inputs import truncated_gzip

    paths = {
        "missing": [tmp_path / "nope.jsonl"],
        "folder": [tmp_path],
        "truncated-gzip": truncated_gzip(tmp_path).paths,
    }[what]
    out = tmp_path / "out.jsonl"
    assert _cli(folder, paths, out, "--on-error", "skip") == 2
    err = capsys.readouterr().err
    assert str(paths[0]) in err and "Traceback" not in err
    assert not out.exists() and not partial_path(out).exists()


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_none_and_nan_where_allowed_are_empty_or_unlabelled(folder, tmp_path, suffix):
    f = feeds()
    f[0]["items"][0].update(title=None, label=None)  # the summary alone is scored
    f[0]["items"][1].update(summary=None)
    f[1]["article"]["body"] = None  # the title alone is the article
    if suffix == ".jsonl":
        path = jsonl(tmp_path / "in.jsonl", f)
    else:
        rows = long_rows(f)
        rows["label"] = pd.to_numeric(rows["label"]).astype(float)  # NaN where unlabelled
        rows = rows.astype({"item_title": object, "item_summary": object, "article_body": object})
        path = table(tmp_path / f"in{suffix}", rows.where(rows.notna(), None))
    out = tmp_path / "out.jsonl"
    summary = _score(folder, [path], out)
    assert summary.feeds == 3 and summary.rows == 12
    rows = [json.loads(x) for x in out.read_text().splitlines()]
    first = next(r for r in rows if r["item_id"] == f[0]["items"][0]["id"])
    assert "label" not in first and first["title"] == ""
    assert sum("label" in r for r in rows) == 11


def _scored_title(folder: Path, paths: list[Path], tmp_path: Path) -> pd.DataFrame:
    out = tmp_path / "scored.jsonl"
    summary = _score(folder, paths, out, feeds_per_chunk=1000)
    assert summary.complete
    return read_scores(out)


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_html_entities_and_control_characters_are_cleaned(folder, tmp_path, suffix):
    f = feeds()
    f[0]["items"][0]["title"] = "<b>Flood</b> &amp; rain\x00\x07 in\u200b\tthe <i>valley</i>"
    f[0]["items"][1]["summary"] = None  # None is an empty summary, the title alone is scored
    f[0]["article"]["body"] = (
        "<p>River&nbsp;flood.</p>\r\n<script>x</script>" + f[0]["article"]["body"]
    )
    path = (
        jsonl(tmp_path / "in.jsonl", f)
        if suffix == ".jsonl"
        else table(tmp_path / f"in{suffix}", long_rows(f).fillna(""))
    )
    scored = _scored_title(folder, [path], tmp_path)
    assert len(scored) == 12
    assert scored["title"].iat[0] == "Flood & rain in the valley"


@pytest.mark.parametrize("suffix", [".jsonl", ".csv"])
def test_a_10_mb_article_body_is_scored_in_full(folder, tmp_path, suffix):
    f = feeds(2)
    para = "River flood rain water levee evacuation storm dam rescue villages. "
    f[0]["article"]["body"] = para * (10_000_000 // len(para)) + "Final stocks sentence here."
    path = (
        jsonl(tmp_path / "in.jsonl", f)
        if suffix == ".jsonl"
        else table(tmp_path / "in.csv", long_rows(f))
    )
    assert path.stat().st_size > 10_000_000
    model, inner = load_fake(folder, use_cache=False)
    seen: list[str] = []
    encode = inner.encode
    inner.encode = lambda texts: (seen.extend(texts), encode(texts))[1]  # type: ignore[method-assign]
    out = tmp_path / "big.jsonl"
    assert score_files(model, [path], out, progress=None).feeds == 2
    assert "Final stocks sentence here." in seen  # the end of the body was embedded: no cap
    assert len(read_scores(out)) == 8


def test_a_feed_of_10000_items_is_scored(folder, tmp_path):
    f = feeds(1)
    words = ["river", "flood", "rain", "water", "stocks", "shares", "vote", "ballot"]
    words += ["match", "goal"]
    f[0]["items"] = [
        {"id": f"i{i}", "title": f"{words[i % 10]} {words[i * 7 % 10]}", "summary": ""}
        for i in range(10_000)
    ]
    scored = _scored_title(folder, [jsonl(tmp_path / "in.jsonl", f)], tmp_path)
    assert len(scored) == 10_000 and sorted(scored["rank"]) == list(range(1, 10_001))


# Training reads whole files: the rows of a feed need not be contiguous there (pages are not
# training data).
TRAINING = [c for c in CASES if not c.id.startswith(("page", "not-contiguous"))]


@pytest.mark.parametrize("case", TRAINING, ids=lambda c: c.id)
def test_training_data_gets_the_same_errors(case: Case, tmp_path, capsys):
    built = case.build(tmp_path)
    level, name = built.rejects[0][:2]
    if level == "file":
        paths = [p for p in built.paths if p.name == name]
    else:
        paths = [p for p in built.paths if not p.name.startswith("good")]
    code = main(["train", *map(str, paths), "--out", str(tmp_path / "m"), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("relevance train: error: ") and "Traceback" not in err
    assert name in err, err  # refused for this record, not for another reason
    assert not (tmp_path / "m").exists()
