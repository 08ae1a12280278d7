"""Faults: a run killed part way resumes to the same bytes; Ctrl-C stops cleanly; an
unwritable output fails at once; a crash never leaves half a batch in the embedding cache.

The kill tests run the real CLI in a subprocess (``tests/fake_cli.py``: the fake
encoder, slowed down so the run can be caught part way).
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import fake_cli
import numpy as np
import pytest
from bad_inputs import feeds, jsonl
from batch_support import load_fake, save_fake_model
from fakes import FakeEmbedder, make_feeds

import relevance.batch
import relevance.batch.sinks
from relevance.batch import ids_path, score_files, state_path
from relevance.batch.rejects import rejects_path
from relevance.batch.sinks import partial_path
from relevance.cli import main
from relevance.embed.cache import DB_NAME, EmbeddingCache

FAKE_CLI = str(Path(__file__).parent / "fake_cli.py")


@pytest.fixture(scope="module")
def folder(tmp_path_factory, fitted_fake_model):
    return save_fake_model(fitted_fake_model[0], tmp_path_factory.mktemp("faults") / "model")


@pytest.fixture
def many(tmp_path) -> Path:
    """30 good feeds with 5 bad records among them (for --on-error skip)."""
    lines: list[object] = list(make_feeds(30, 4, seed=21))
    for at, bad in ((3, "{broken"), (9, b"\xff"), (15, '{"feed_id": "x", "items": []}')):
        lines.insert(at, bad)
    first = dict(lines[0])  # type: ignore[arg-type]
    lines.insert(20, first)  # a duplicate feed id, far from the first
    item_bad = json.loads(json.dumps(lines[25]))
    item_bad["items"][1]["title"], item_bad["items"][1]["summary"] = "", "<br>"
    lines[25] = item_bad
    return jsonl(tmp_path / "many.jsonl", lines)


def _args(folder: Path, inp: Path, out: Path, *extra: str) -> list[str]:
    return [
        "score",
        str(inp),
        "--model",
        str(folder),
        "--out",
        str(out),
        "--cache-dir",
        str(out.parent / "cache"),
        "--no-progress",
        "--feeds-per-chunk",
        "2",
        *extra,
    ]


def _start(args: list[str]) -> subprocess.Popen:
    env = {**os.environ, "FAKE_DELAY": "0.15", "HF_HUB_OFFLINE": "1"}
    return subprocess.Popen(
        [sys.executable, FAKE_CLI, *args],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for_chunks(proc: subprocess.Popen, out: Path, chunks: int) -> dict:
    """Poll the resume sidecar until ``chunks`` are committed (the run is part way)."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"the run ended before it could be interrupted: {proc.stderr.read()}")
        try:
            state = json.loads(state_path(out).read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("chunks_done", 0) >= chunks:
            return state
        time.sleep(0.02)
    proc.kill()
    pytest.fail("no progress within 60 s")


def _integrity(cache_dir: Path) -> None:
    with sqlite3.connect(cache_dir / DB_NAME) as conn:
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_sigkill_then_resume_gives_the_bytes_of_an_uninterrupted_run(folder, many, tmp_path):
    full = tmp_path / "full" / "out.jsonl"
    assert fake_cli.main(_args(folder, many, full, "--on-error", "skip")) == 0

    out = tmp_path / "killed" / "out.jsonl"
    proc = _start(_args(folder, many, out, "--on-error", "skip"))
    state = _wait_for_chunks(proc, out, 3)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    assert not out.exists() and partial_path(out).exists()  # nothing that looks complete
    assert 3 <= state["chunks_done"] < 15
    _integrity(out.parent / "cache")

    assert fake_cli.main(_args(folder, many, out, "--on-error", "skip", "--resume")) == 0
    assert out.read_bytes() == full.read_bytes()
    assert rejects_path(out).read_bytes() == rejects_path(full).read_bytes()  # none twice
    assert len(rejects_path(out).read_text().splitlines()) == 5
    for leftover in (partial_path(out), state_path(out), ids_path(out)):
        assert not leftover.exists()
    _integrity(out.parent / "cache")


def test_ctrl_c_stops_cleanly_and_resume_completes(folder, many, tmp_path):
    good = jsonl(tmp_path / "good.jsonl", make_feeds(120, 4, seed=21))  # long enough to stop
    full = tmp_path / "full" / "out.csv"
    assert fake_cli.main(_args(folder, good, full)) == 0

    out = tmp_path / "stopped" / "out.csv"
    proc = _start(_args(folder, good, out))
    _wait_for_chunks(proc, out, 2)
    proc.send_signal(signal.SIGINT)
    proc.wait(timeout=30)
    err = proc.stderr.read()
    assert proc.returncode == 130, err
    assert "Traceback" not in err and "interrupted" in err and "--resume continues" in err
    assert not out.exists() and partial_path(out).exists()

    assert fake_cli.main(_args(folder, good, out, "--resume")) == 0
    assert out.read_bytes() == full.read_bytes()


def test_resume_in_skip_mode_writes_no_reject_twice(folder, many, tmp_path):
    def run(out, **kw):
        model, _ = load_fake(folder, use_cache=False)
        return score_files(
            model, [many], out, progress=None, feeds_per_chunk=3, on_error="skip", **kw
        )

    full = tmp_path / "full.jsonl"
    run(full)
    out = tmp_path / "out.jsonl"
    for _ in range(4):  # stop after each chunk or two, like repeated interruptions
        summary = run(out, max_chunks=2, resume=True)
        with open(rejects_path(out).with_name(rejects_path(out).name + ".partial"), "ab") as fh:
            fh.write(b'{"half a reject')  # written after the last commit, then a crash
    summary = run(out, resume=True)
    assert summary.complete and summary.rejected == {"file": 0, "feed": 4, "item": 1}
    assert out.read_bytes() == full.read_bytes()
    assert rejects_path(out).read_bytes() == rejects_path(full).read_bytes()


@pytest.mark.parametrize("bad", ["parent-is-a-file", "out-is-a-folder"])
def test_an_unwritable_output_fails_at_once(folder, tmp_path, capsys, monkeypatch, bad):
    def never(*args, **kw):
        raise AssertionError("the model was loaded before the output was checked")

    monkeypatch.setattr(relevance.batch, "prepare_model", never)
    (tmp_path / "file").write_text("x")
    (tmp_path / "dir").mkdir()
    out = tmp_path / "file" / "out.jsonl" if bad == "parent-is-a-file" else tmp_path / "dir"
    path = jsonl(tmp_path / "in.jsonl", feeds())
    args = ["score", str(path), "--model", str(folder), "--out", str(out), "--no-progress"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"--output {out}" in err and "Traceback" not in err


def test_a_full_disk_mid_run_fails_clearly_and_resumes(folder, tmp_path, capsys, monkeypatch):
    path = jsonl(tmp_path / "in.jsonl", make_feeds(10, 4, seed=3))
    full, out = tmp_path / "full.jsonl", tmp_path / "out.jsonl"
    assert fake_cli.main(_args(folder, path, full)) == 0
    real, calls = relevance.batch.sinks.encode_text, []

    def full_disk(*args, **kw):
        calls.append(1)
        if len(calls) == 3:
            raise OSError(28, "No space left on device")
        return real(*args, **kw)

    monkeypatch.setattr(relevance.batch.sinks, "encode_text", full_disk)
    assert fake_cli.main(_args(folder, path, out)) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "--resume" in err and "Traceback" not in err
    monkeypatch.setattr(relevance.batch.sinks, "encode_text", real)
    assert fake_cli.main(_args(folder, path, out, "--resume")) == 0
    assert out.read_bytes() == full.read_bytes()


def test_an_encoder_crash_mid_run_leaves_the_cache_whole(folder, tmp_path):
    """Chunks before the crash are cached, each vector right; nothing of the failed one."""
    path = jsonl(tmp_path / "in.jsonl", make_feeds(9, 4, seed=8))
    model, inner = load_fake(folder, cache_dir=tmp_path / "cache")
    done: list[str] = []
    encode = inner.encode

    def crash_on_third(texts):
        if inner.calls == 2:
            raise RuntimeError("encoder crashed")
        done.extend(texts)
        return encode(texts)

    inner.encode = crash_on_third  # type: ignore[method-assign]
    with pytest.raises(RuntimeError, match="encoder crashed"):
        score_files(model, [path], tmp_path / "o.jsonl", progress=None, feeds_per_chunk=3)
    _integrity(tmp_path / "cache")
    with EmbeddingCache(tmp_path / "cache") as cache:
        assert cache.stats()["entries"] == len(set(done)) > 0
        stored = cache.get_many(inner.fingerprint, done)
        np.testing.assert_array_equal(np.stack(stored), FakeEmbedder().encode(done))


KILL_MID_TRANSACTION = """
import os, signal, sys
import numpy as np
from relevance.embed.cache import EmbeddingCache

class Dies(list):
    def __iter__(self):
        for i, text in enumerate(list.__iter__(self)):
            if i == 50:
                os.kill(os.getpid(), signal.SIGKILL)
            yield text

cache = EmbeddingCache(sys.argv[1])
cache.put_many("fp", ["kept"], np.ones((1, 4), dtype=np.float32))
texts = Dies(f"t{i}" for i in range(100))
cache.put_many("fp", texts, np.ones((100, 4), dtype=np.float32))
"""


def test_a_process_killed_mid_transaction_leaves_the_cache_whole(tmp_path):
    proc = subprocess.run(
        [sys.executable, "-c", KILL_MID_TRANSACTION, str(tmp_path)],
        capture_output=True,
        timeout=60,
    )
    assert proc.returncode == -signal.SIGKILL, proc.stderr
    _integrity(tmp_path)
    with EmbeddingCache(tmp_path) as cache:
        assert cache.stats()["entries"] == 1  # the committed row; none of the killed batch
        assert cache.get_many("fp", ["kept", "t0"])[1] is None
