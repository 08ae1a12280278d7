"""One reader and one validator for every entry point: the same input is accepted or refused
the same way, with the same message, by the Python API, ``score``, ``evaluate``, ``train``
and the Ray engine.

Before the readers were unified, ``read_input`` (used by ``evaluate`` and the API) took a CSV
with a duplicate item id that ``relevance score`` refused, and ``train`` took a CSV whose
feed rows were not contiguous.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from batch_support import load_fake, save_fake_model
from fakes import FakeEmbedder, make_feeds
from training_helpers import long_rows, write_feeds

import relevance.persistence.artifacts as artifacts
from relevance import read_input
from relevance.batch import score_files
from relevance.cli import main
from relevance.io.errors import InputError
from relevance.train.pipeline import train

TESTS = str(Path(__file__).parent)


def _feeds() -> list[dict]:
    return make_feeds(9, 5, seed=2)


def duplicate_item(suffix: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        feeds = _feeds()
        feeds[4]["items"][3]["id"] = feeds[4]["items"][0]["id"]
        return write_feeds(feeds, tmp / f"in{suffix}")

    return build


def empty_item(suffix: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        feeds = _feeds()
        feeds[2]["items"][1].update(title="<p>&nbsp;</p>", summary="")
        return write_feeds(feeds, tmp / f"in{suffix}")

    return build


def not_contiguous(suffix: str) -> Callable[[Path], Path]:
    def build(tmp: Path) -> Path:
        rows = long_rows(_feeds())
        moved = rows[rows["feed_id"] == "feed-001"].iloc[:1]
        rows = rows.drop(moved.index)
        rows = pd.concat([rows.iloc[:20], moved, rows.iloc[20:]], ignore_index=True)
        path = tmp / f"in{suffix}"
        rows.to_csv(path, index=False) if suffix == ".csv" else rows.to_parquet(path, index=False)
        return path

    return build


def duplicate_feed_id(tmp: Path) -> Path:
    feeds = _feeds()
    again = copy.deepcopy(feeds[1])
    again["article"]["body"] += " Another article."
    return write_feeds([*feeds, again], tmp / "in.jsonl")


CASES = {
    "csv-duplicate-item-id": duplicate_item(".csv"),
    "parquet-duplicate-item-id": duplicate_item(".parquet"),
    "jsonl-duplicate-item-id": duplicate_item(".jsonl"),
    "csv-empty-item": empty_item(".csv"),
    "jsonl-empty-item": empty_item(".jsonl"),
    "csv-rows-not-contiguous": not_contiguous(".csv"),
    "parquet-rows-not-contiguous": not_contiguous(".parquet"),
    "jsonl-duplicate-feed-id": duplicate_feed_id,
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory, fitted_fake_model):
    return save_fake_model(fitted_fake_model[0], tmp_path_factory.mktemp("one") / "model")


def _api(path: Path, folder: Path, tmp: Path) -> str:
    with pytest.raises(InputError) as err:
        read_input(path)
    return str(err.value)


def _score(path: Path, folder: Path, tmp: Path) -> str:
    model, _ = load_fake(folder, use_cache=False)
    with pytest.raises(InputError) as err:
        score_files(model, [path], tmp / "out.jsonl", progress=None)
    assert not (tmp / "out.jsonl").exists()
    return str(err.value)


def _train(path: Path, folder: Path, tmp: Path) -> str:
    fake = FakeEmbedder()
    with pytest.raises(InputError) as err:
        train([path], tmp / "model", embedder=fake, use_cache=False, n_splits=3)
    assert fake.calls == 0  # refused before any embedding
    return str(err.value)


def _evaluate_cli(path: Path, folder: Path, tmp: Path, capsys, monkeypatch) -> str:
    real = artifacts.load_model
    monkeypatch.setattr(artifacts, "load_model", lambda d, **kw: real(d, FakeEmbedder()))
    code = main(["evaluate", str(path), "--model", str(folder), "--out", str(tmp / "report")])
    assert code == 2
    err = capsys.readouterr().err
    assert err.startswith("relevance evaluate: error: ")
    return err.removeprefix("relevance evaluate: error: ").strip()


def _score_cli(path: Path, folder: Path, tmp: Path, capsys) -> str:
    import fake_cli

    args = ["score", str(path), "--model", str(folder), "--out", str(tmp / "cli.jsonl")]
    assert fake_cli.main([*args, "--no-cache", "--no-progress"]) == 2
    err = capsys.readouterr().err
    return err.removeprefix("relevance score: error: ").strip()


@pytest.mark.parametrize("case", list(CASES), ids=str)
def test_every_entry_point_refuses_the_same_record_with_the_same_message(
    case, folder, tmp_path, capsys, monkeypatch
):
    path = CASES[case](tmp_path)
    messages = {
        "read_input": _api(path, folder, tmp_path),
        "score_files": _score(path, folder, tmp_path),
        "relevance score": _score_cli(path, folder, tmp_path, capsys),
        "train": _train(path, folder, tmp_path),
        "relevance evaluate": _evaluate_cli(path, folder, tmp_path, capsys, monkeypatch),
    }
    assert len(set(messages.values())) == 1, messages
    assert path.name in messages["read_input"]


def test_a_clean_input_reads_the_same_through_every_format(tmp_path):
    feeds = _feeds()
    frames = [read_input(write_feeds(feeds, tmp_path / f"ok{s}")) for s in (".jsonl", ".csv")]
    frames.append(read_input(write_feeds(feeds, tmp_path / "ok.parquet")))
    for frame in frames[1:]:
        assert frame.equals(frames[0])


@pytest.mark.slow
@pytest.mark.parametrize("case", ["csv-duplicate-item-id", "jsonl-duplicate-feed-id"])
def test_the_ray_engine_refuses_it_the_same_way(case, folder, tmp_path, monkeypatch):
    from test_ray_engine import _need_ray

    _need_ray()
    from relevance.batch.ray_engine import score_ray

    path = CASES[case](tmp_path)
    want = _api(path, folder, tmp_path)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))
    with pytest.raises(InputError) as err:
        score_ray(
            folder,
            [path],
            out=tmp_path / "ray.jsonl",
            use_cache=False,
            progress=None,
            embedder_factory="fakes:FakeEmbedder",
        )
    assert str(err.value) == want
