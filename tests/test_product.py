"""What a new user meets first: the Python API, the CLI's options, its terminal output."""

from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from fakes import FakeEmbedder, feeds_frame, make_feeds

from relevance.cli import main
from relevance.persistence.artifacts import load_model

FAKE_CLI = str(Path(__file__).parent / "fake_cli.py")


@pytest.fixture(scope="module")
def graded_folder(tmp_path_factory, fitted_graded_model):
    from relevance.io.text import content_digests

    model, frame = fitted_graded_model
    folder = tmp_path_factory.mktemp("product") / "model"
    from relevance.persistence.artifacts import save_model

    save_model(model, folder, trained_on=content_digests(frame))
    return folder


@pytest.fixture
def model(graded_folder):
    return load_model(graded_folder, embedder=FakeEmbedder())


# -- the Python API ----------------------------------------------------------------------


def test_rank_takes_strings_and_returns_both_levels_best_first(model):
    article = "River flood rain water levee evacuation storm dam rescue villages."
    items = [
        "Stocks shares investors market index trading.",
        "Flood water levee rescue villages storm.",
        {"title": "Vote ballot election", "summary": "Candidate parliament campaign poll."},
    ]
    ranked = model.rank(article, items)
    assert list(ranked["rank"]) == [1, 2, 3]
    assert ranked["item_id"].iloc[0] == "1"  # the flood item, by its position
    assert {"probability", "p_story", "p_topic", "relevant"} <= set(ranked.columns)
    assert (ranked["p_topic"] >= ranked["p_story"]).all()
    top = model.rank({"title": "Flood", "body": article}, items, level="story", top_k=1)
    assert len(top) == 1 and top["probability"].iloc[0] == top["p_story"].iloc[0]


def test_rank_refuses_what_is_not_a_feed(model):
    from relevance.io.errors import InputError

    for article, items in (("x", []), ("", ["a"]), ("x", [3]), ("x", [""])):
        with pytest.raises(InputError):
            model.rank(article, items)


def test_explain_names_the_passage_and_what_both_share(model):
    feed = make_feeds(1, 6, seed=3, graded=True)[0]
    feed["article"]["body"] = "Rain fell for days. " + feed["article"]["body"]
    frame = feeds_frame(1, 6, seed=3, graded=True)
    out = model.score_frame(frame, explain=True)
    assert {"passage", "shared"} <= set(out.columns)
    from relevance.io.text import split_sentences

    sentences = split_sentences(frame["article_title"].iat[0] + ". " + frame["article_body"].iat[0])
    assert all(p in sentences or p in frame["article_body"].iat[0] for p in out["passage"])
    assert out["shared"].map(lambda s: isinstance(s, str)).all()


def test_score_frame_uses_the_on_disk_cache_by_default(graded_folder, tmp_path):
    frame = feeds_frame(4, 6, seed=8, graded=True)
    first = FakeEmbedder()
    load_model(graded_folder, embedder=first, cache_dir=tmp_path).score_frame(frame)
    again = FakeEmbedder()
    load_model(graded_folder, embedder=again, cache_dir=tmp_path).predict_proba(frame)
    assert first.calls >= 1 and again.calls == 0  # the second model encoded nothing


# -- evaluate: training data recognised by content ----------------------------------------


def test_evaluate_flags_in_sample_feeds_and_measures_the_rest_apart(graded_folder, tmp_path):
    from relevance.eval.evaluation import evaluate
    from relevance.eval.report import render_markdown

    model = load_model(graded_folder, embedder=FakeEmbedder())
    seen = feeds_frame(graded=True).iloc[: 8 * 6]  # 6 training feeds, re-read as a table
    unseen = feeds_frame(10, 8, seed=41, graded=True)
    unseen["feed_id"] = "new-" + unseen["feed_id"]
    frame = pd.concat([seen, unseen], ignore_index=True)
    result = evaluate(frame, model, n_resamples=50)
    info = result.metrics["models"]["model"]
    assert info["in_sample"] is True
    assert (
        info["in_sample_feeds"]["n_feeds"] == 6 and info["in_sample_feeds"]["n_feeds_total"] == 16
    )
    oos = result.metrics["out_of_sample"]
    assert oos["data"]["n_feeds"] == 10 and set(oos["levels"]) == {"story", "topic"}
    md = render_markdown(result)
    assert "In-sample: 6 of 16 feeds" in md and "On the other 10 feeds alone" in md
    fresh = evaluate(unseen, model, n_resamples=50).metrics["models"]["model"]
    assert fresh["in_sample"] is False and "out_of_sample" not in fresh


def test_evaluate_records_what_ran(graded_folder, tmp_path, monkeypatch):
    import relevance.persistence.artifacts as artifacts

    real = artifacts.load_model
    monkeypatch.setattr(
        artifacts, "load_model", lambda d, embedder=None, **kw: real(d, FakeEmbedder(), **kw)
    )
    import relevance.embed.encoder as encoder

    monkeypatch.setattr(encoder, "SentenceTransformerEmbedder", lambda *a, **k: FakeEmbedder("f"))
    data = tmp_path / "data.jsonl"
    data.write_text("".join(json.dumps(f) + "\n" for f in make_feeds(6, 6, seed=5, graded=True)))
    out = tmp_path / "report"
    args = [
        "evaluate",
        str(data),
        "--model",
        str(graded_folder),
        "-o",
        str(out),
        "--bootstrap",
        "20",
    ]
    assert main(args) == 0
    run = json.loads((out / "metrics.json").read_text())["run"]
    assert run["relevance"] and run["model_sha256"] and run["created"].endswith("+00:00")
    assert run["command"].startswith("relevance evaluate")
    systems = json.loads((out / "metrics.json").read_text())["levels"]["topic"]["systems"]
    assert "cosine_frozen" in systems  # the frozen embedder's cosine beside the model's own


# -- the CLI --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["score", "x.jsonl", "--feeds-per-chunk", "0"], "expected an integer >= 1"),
        (["score", "x.jsonl", "--threshold", "1.5"], "expected a number in [0.0, 1.0]"),
        (["score", "x.jsonl", "--top-k", "-1"], "expected an integer >= 1"),
        (["score", "x.jsonl", "--ray-actors", "0"], "expected an integer >= 1"),
        (["train", "x.jsonl", "-o", "m", "--C", "-1"], "expected a number in (0.0, inf)"),
        (["train", "x.jsonl", "-o", "m", "--folds", "1"], "expected an integer >= 2"),
        (["evaluate", "x.jsonl", "-o", "r", "--bootstrap", "-5"], "expected an integer >= 1"),
        (["evaluate", "x.jsonl", "-o", "r", "--seed", "abc"], "expected an integer"),
    ],
)
def test_bad_option_values_exit_2_before_any_work(argv, message, capsys):
    with pytest.raises(SystemExit) as exit_:
        main(argv)
    assert exit_.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err


def test_an_unknown_output_suffix_is_an_error(graded_folder, tmp_path, capsys):
    feeds = tmp_path / "in.jsonl"
    feeds.write_text(json.dumps(make_feeds(1, 4)[0]) + "\n")
    args = ["score", str(feeds), "--model", str(graded_folder), "-o", str(tmp_path / "x.out")]
    assert main(args) == 2
    assert "unknown output suffix" in capsys.readouterr().err
    assert not (tmp_path / "x.out").exists()


def test_version_names_the_default_model(capsys):
    with pytest.raises(SystemExit):
        main(["--version"])
    out = capsys.readouterr().out
    assert out.startswith("relevance ") and "default model default@" in out


def test_help_shows_defaults_and_examples(capsys):
    with pytest.raises(SystemExit):
        main(["score", "--help"])
    out = capsys.readouterr().out
    assert "(default: 1024)" in out and "examples:" in out and "-o FILE, --output FILE" in out
    for flag in ("--engine", "--feeds-per-chunk", "--threshold", "--top-k", "--explain"):
        line = next(x for x in out.splitlines() if x.strip().startswith(flag))
        assert len(line.split(None, 1)) > 1 or flag in out  # every option has help text


def _scored(folder: Path, tmp_path: Path, *extra: str) -> tuple[str, str]:
    feeds = tmp_path / "in.jsonl"
    feeds.write_text("".join(json.dumps(f) + "\n" for f in make_feeds(3, 5, seed=2)))
    argv = [sys.executable, FAKE_CLI, "score", str(feeds), "--model", str(folder), *extra]
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")}
    done = subprocess.run(argv, capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def test_explain_columns_in_every_format(graded_folder, tmp_path):
    from relevance.batch.sinks import read_scores

    for suffix in ("jsonl", "csv", "parquet"):
        out = tmp_path / f"scores.{suffix}"
        _scored(graded_folder, tmp_path, "--explain", "-o", str(out))
        frame = read_scores(out)
        assert {"passage", "shared"} <= set(frame.columns), suffix
        assert frame["passage"].map(len).gt(0).all()
    table, _ = _scored(graded_folder, tmp_path, "--explain")
    assert "shared:" in table and "passage:" in table


def test_piped_progress_has_no_carriage_returns(graded_folder, tmp_path):
    out, err = _scored(graded_folder, tmp_path, "-o", str(tmp_path / "s.jsonl"))
    assert "\r" not in err and "scoring: 3/3 feeds done" in err


def test_table_has_a_caption_and_a_header_naming_every_column(graded_folder, tmp_path):
    table, _ = _scored(graded_folder, tmp_path, "--no-progress")
    lines = table.splitlines()
    assert lines[0].startswith("model model@") and "level topic" in lines[0]
    assert "threshold" in lines[0] and "(trained)" in lines[0]
    header = next(x for x in lines if "title" in x and "rank" in x)
    for column in ("rank", "probability", "p_story", "p_topic", "relevant", "title"):
        assert column in header


def test_on_a_terminal_the_bar_and_the_table_do_not_share_a_line(graded_folder, tmp_path):
    """Under a pseudo-terminal (stdout and stderr one tty, as a user sees them)."""
    feeds = tmp_path / "in.jsonl"
    feeds.write_text("".join(json.dumps(f) + "\n" for f in make_feeds(3, 5, seed=2)))
    env = {**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache"), "COLUMNS": "120"}
    pid, fd = pty.fork()
    if pid == 0:  # the child: the real CLI on a 120-column terminal
        import fcntl
        import struct
        import termios

        fcntl.ioctl(1, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 120, 0, 0))
        os.execve(
            sys.executable,
            [sys.executable, FAKE_CLI, "score", str(feeds), "--model", str(graded_folder)],
            env,
        )
    chunks = []
    while True:
        ready, _, _ = select.select([fd], [], [], 60)
        if not ready:
            break
        try:
            data = os.read(fd, 4096)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0
    screen = b"".join(chunks).decode("utf-8", "replace")
    lines = [line.split("\r")[-1] for line in screen.replace("\r\n", "\n").split("\n")]
    bar = [x for x in lines if "scoring" in x and "feed" in x]
    assert bar, screen  # the bar was drawn on the terminal
    table_start = next(i for i, x in enumerate(lines) if x.startswith("model "))
    assert all("scoring" not in x for x in lines[table_start:]), screen
    assert not any("scoring" in x and "rank" in x for x in lines)
