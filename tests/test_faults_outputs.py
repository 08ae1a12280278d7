"""Outputs never clobber inputs, files count once, killed runs leave nothing behind
(issue 15, failures 4, 5, 10 and 11), and bad option values are exit 2 (failure 9).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import fake_cli
import pytest
from bad_inputs import feeds, jsonl
from batch_support import load_fake, save_fake_model
from fakes import FakeEmbedder

import relevance.persistence.artifacts as artifacts
import relevance.train.pipeline as pipeline
from relevance.batch import score_files
from relevance.batch.rejects import rejects_path
from relevance.cli import main
from relevance.io.files import owner_tag, remove_dead
from relevance.train.compare import remove_dead_siblings, sibling


@pytest.fixture(scope="module")
def folder(tmp_path_factory, fitted_fake_model):
    return save_fake_model(fitted_fake_model[0], tmp_path_factory.mktemp("outs") / "model")


@pytest.fixture
def data(tmp_path) -> Path:
    (tmp_path / "in").mkdir()
    return jsonl(tmp_path / "in" / "x.jsonl", feeds())


def _score(folder: Path, *args: str) -> int:
    return fake_cli.main(["score", *args, "--model", str(folder), "--no-cache", "--no-progress"])


# -- 4. --out resolving to an input -------------------------------------------------------


@pytest.mark.parametrize("how", ["same", "dotdot", "symlink", "hardlink", "sidecar"])
def test_score_refuses_an_out_that_is_an_input(folder, data, tmp_path, capsys, how):
    before = data.read_bytes()
    out = {
        "same": data,
        "dotdot": tmp_path / "in" / ".." / "in" / "x.jsonl",
        "symlink": tmp_path / "link.jsonl",
        "hardlink": tmp_path / "hard.jsonl",
        "sidecar": tmp_path / "in" / "x",  # x.rejects.jsonl would be written: make it an input
    }[how]
    inputs = [data]
    if how == "symlink":
        out.symlink_to(data)
    elif how == "hardlink":
        os.link(data, out)
    elif how == "sidecar":
        inputs.append(jsonl(tmp_path / "in" / "x.rejects.jsonl", feeds(5)[3:]))
    code = _score(folder, *map(str, inputs), "--out", str(out), "--on-error", "skip")
    err = capsys.readouterr().err
    assert code == 2, err
    assert "is the input" in err and "Traceback" not in err
    assert data.read_bytes() == before
    assert sorted(p.name for p in (tmp_path / "in").iterdir()) == sorted(p.name for p in inputs)


def test_evaluate_refuses_to_write_its_report_over_an_input_or_into_the_model(
    folder, data, tmp_path, capsys
):
    (tmp_path / "report").mkdir()
    metrics = jsonl(tmp_path / "report" / "metrics.json", feeds(5)[3:])
    args = ["evaluate", str(data), str(metrics), "--no-cache", "--model", str(folder)]
    assert main([*args, "-o", str(tmp_path / "report")]) == 2
    assert "metrics.json: is the input" in capsys.readouterr().err
    before = sorted(p.name for p in folder.iterdir())
    assert main(["evaluate", str(data), "--model", str(folder), "-o", str(folder / "r")]) == 2
    assert "is inside the input folder" in capsys.readouterr().err
    assert sorted(p.name for p in folder.iterdir()) == before


@pytest.mark.parametrize("command", ["score", "evaluate"])
def test_nothing_is_written_into_the_default_model_folder(
    folder, data, capsys, monkeypatch, command
):
    """Without --model the default model is used: its closed folder is an input too."""
    monkeypatch.setenv("RELEVANCE_MODEL", str(folder))
    before = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*"))
    out = folder / "reports" / ("scores.jsonl" if command == "score" else "eval")
    args = {
        "score": ["score", str(data), "--out", str(out), "--no-cache", "--no-progress"],
        "evaluate": ["evaluate", str(data), "-o", str(out), "--no-cache"],
    }[command]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert f"is inside the input folder {folder}" in err and "Traceback" not in err
    assert sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*")) == before


@pytest.mark.parametrize("where", ["the-file", "inside"])
def test_train_refuses_an_out_folder_holding_an_input(data, tmp_path, capsys, where):
    out = data if where == "the-file" else data.parent
    before = data.read_bytes()
    assert main(["train", str(data), "--out", str(out), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert ("is the input" in err or "holds the input" in err) and "Traceback" not in err
    assert data.read_bytes() == before


# -- 5. the same file twice, repeated feed ids ----------------------------------------------


@pytest.mark.parametrize("command", ["score", "evaluate", "train"])
def test_the_same_file_twice_is_refused(folder, data, tmp_path, capsys, command):
    os.link(data, tmp_path / "again.jsonl")
    args = {
        "score": ["score", "--model", str(folder), "--out", str(tmp_path / "o.jsonl")],
        "evaluate": ["evaluate", "--model", str(folder), "-o", str(tmp_path / "r")],
        "train": ["train", "--out", str(tmp_path / "m")],
    }[command]
    code = fake_cli.main([*args, str(data), str(tmp_path / "again.jsonl"), "--no-cache"])
    err = capsys.readouterr().err
    assert code == 2 and "the same input file as" in err and "Traceback" not in err
    assert not (tmp_path / "r").exists() and not (tmp_path / "m").exists()


@pytest.mark.parametrize("command", ["evaluate", "train"])
def test_a_feed_id_repeated_across_files_is_refused(folder, tmp_path, capsys, command, monkeypatch):
    real = artifacts.load_model
    fake = lambda *a, **kw: real(folder, embedder=FakeEmbedder(), cache=False)  # noqa: E731
    monkeypatch.setattr(artifacts, "load_model", fake)  # evaluate with the fake encoder
    f = feeds(4)
    a = jsonl(tmp_path / "a.jsonl", f[:3])
    b = jsonl(tmp_path / "b.jsonl", f[2:])  # f[2] in both
    args = {
        "evaluate": ["evaluate", "--model", str(folder), "-o", str(tmp_path / "r")],
        "train": ["train", "--out", str(tmp_path / "m")],
    }[command]
    assert fake_cli.main([*args, str(a), str(b), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert f"b.jsonl:1: field 'feed_id': got '{f[2]['feed_id']}'" in err
    assert "each feed once" in err


# -- 11. rejects counted once ----------------------------------------------------------


def test_a_duplicate_feed_with_a_bad_item_is_one_reject(folder, tmp_path):
    f = feeds()
    again = json.loads(json.dumps(f[0]))
    again["items"][1]["title"], again["items"][1]["summary"] = 5, ""  # a bad item too
    path = jsonl(tmp_path / "in.jsonl", [f[0], f[1], again, f[2]])
    model, _ = load_fake(folder, use_cache=False)
    out = tmp_path / "out.jsonl"
    summary = score_files(model, [path], out, on_error="skip", progress=None)
    rejects = [json.loads(x) for x in rejects_path(out).read_text().splitlines()]
    assert [(r["level"], r["line"], r["field"]) for r in rejects] == [("feed", 3, "feed_id")]
    assert summary.rejected == {"file": 0, "feed": 1, "item": 0}


# -- 10. staging folders of killed runs --------------------------------------------------


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid  # exited and reaped: no such process now


def test_staging_folders_of_killed_runs_are_removed_and_live_ones_kept(tmp_path):
    target = tmp_path / "m"
    host = owner_tag().split("~")[0]
    dead = _dead_pid()
    gone = [
        tmp_path / f".m.staging-{host}~{dead}-0a1b2c3d",
        tmp_path / f".m.old-{host}~{dead}-00ff00ff",
        tmp_path / f".m.staging-{dead}-0a1b2c3d",  # an older run's name, without the host
    ]
    kept = [
        sibling(target, "staging"),  # this process: alive
        tmp_path / f".m.staging-otherhost~{dead}-0a1b2c3d",  # another machine's run
        tmp_path / f".mx.staging-{host}~{dead}-0a1b2c3d",  # another target's
        tmp_path / "m",
    ]
    for path in gone + kept:
        (path / "embedder").mkdir(parents=True)
    assert sorted(remove_dead_siblings(target)) == sorted(gone)
    assert all(p.exists() for p in kept) and not any(p.exists() for p in gone)


def test_train_removes_a_killed_runs_staging_before_it_starts(tmp_path, capsys, monkeypatch):
    """The CLI path: the removal happens in ``train`` itself (here it then fails on the data)."""
    dead = tmp_path / f".m.staging-{owner_tag().split('~')[0]}~{_dead_pid()}-0a1b2c3d"
    dead.mkdir()
    bad = jsonl(tmp_path / "bad.jsonl", [{"feed_id": "x"}])
    main(["train", str(bad), "--out", str(tmp_path / "m"), "--no-cache"])
    capsys.readouterr()
    calls: list[Path] = []
    real = pipeline.remove_dead_siblings
    monkeypatch.setattr(pipeline, "remove_dead_siblings", lambda t: calls.append(t) or real(t))
    good = jsonl(tmp_path / "good.jsonl", feeds())
    pipeline.train([good], tmp_path / "m", embedder=FakeEmbedder(), use_cache=False, n_splits=2)
    assert calls == [tmp_path / "m"] and not dead.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bad.jsonl", "good.jsonl", "m"]


def test_a_killed_add_backend_leaves_nothing_the_manifest_would_refuse(tmp_path):
    parent = tmp_path / "backends"
    parent.mkdir()
    left = parent / f".onnx-int8.tmp-{owner_tag().split('~')[0]}~{_dead_pid()}"
    left.mkdir()
    assert remove_dead(parent, ".onnx-int8.tmp-") == [left]


# -- 9. option values -------------------------------------------------------------------


@pytest.mark.parametrize(
    "args",
    [
        ["train", "x.jsonl", "--C", "-1", "--out", "m"],
        ["train", "x.jsonl", "--folds", "1", "--out", "m"],
        ["evaluate", "x.jsonl", "--bootstrap", "-5", "-o", "r"],
        ["evaluate", "x.jsonl", "--seed", "-1", "-o", "r"],
        ["score", "x.jsonl", "--feeds-per-chunk", "0"],
        ["score", "x.jsonl", "--threshold", "1.5"],
        ["score", "x.jsonl", "--threshold", "nan"],
        ["score", "x.jsonl", "--top-k", "0"],
        ["score", "x.jsonl", "--ray-actors", "0"],
        ["score", "x.jsonl", "--ray-cpus-per-actor", "0"],
        ["add-backend", "m", "x.jsonl", "--backend", "onnx-int8", "--seed", "-1"],
    ],
)
def test_a_bad_option_value_is_exit_2_before_any_work(args, capsys):
    with pytest.raises(SystemExit) as stop:
        main(args)
    err = capsys.readouterr().err
    assert stop.value.code == 2 and "error: argument" in err and "Traceback" not in err
