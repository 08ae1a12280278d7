"""The Ray engine gives the local engine's rows (a small local Ray, the fake encoder)."""

from __future__ import annotations

import os
from pathlib import Path

import pandas as pd
import pytest
from batch_support import load_fake, save_fake_model, sorted_scores, write_inputs

from relevance.batch import score_files
from relevance.batch.ray_engine import pack, unpack
from relevance.batch.sinks import read_scores
from relevance.io.reader import read_inputs

TESTS = str(Path(__file__).parent)


def _need_ray() -> None:
    """Skip without Ray, except in CI (.ci/run sets RELEVANCE_REQUIRE_RAY): there, fail."""
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as exc:
        if os.environ.get("RELEVANCE_REQUIRE_RAY"):
            pytest.fail(f"RELEVANCE_REQUIRE_RAY is set but Ray cannot be imported ({exc})")
        pytest.skip("Ray is not installed (pip install 'relevance[ray]'); CI requires it")


def test_pack_and_unpack_round_trip(tmp_path):
    paths = write_inputs(tmp_path, n_feeds=5, n_items=4)
    frame = read_inputs([paths["csv"]])
    table = pack(frame)
    assert table.num_rows == 5  # one row per feed: Ray can never cut one
    pd.testing.assert_frame_equal(unpack(table.to_pandas()), frame)
    unlabelled = frame.drop(columns=["label"])
    pd.testing.assert_frame_equal(unpack(pack(unlabelled).to_pandas()), unlabelled)


@pytest.mark.slow
def test_ray_matches_local(tmp_path, fitted_fake_model, monkeypatch):
    _need_ray()
    from relevance.batch.ray_engine import score_ray

    folder = save_fake_model(fitted_fake_model[0], tmp_path / "model")
    paths = write_inputs(tmp_path, n_feeds=12, n_items=6)
    second = pd.read_parquet(paths["parquet"])
    second["feed_id"] = "b-" + second["feed_id"]  # the second file: other feeds
    second.to_parquet(paths["parquet"], index=False, row_group_size=10)
    # Ray's workers inherit the driver's environment: this lets them import tests/fakes.py.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))
    ray_out = tmp_path / "ray.jsonl"
    summary = score_ray(
        folder,
        [paths["jsonl"], paths["parquet"]],
        out=ray_out,
        feeds_per_chunk=5,
        cache_dir=tmp_path / "cache",
        progress=None,
        embedder_factory="fakes:FakeEmbedder",
    )
    assert summary.complete and summary.feeds == 24 and summary.rows == 144
    model, _ = load_fake(folder, use_cache=False)
    local_out = tmp_path / "local.jsonl"
    score_files(model, [paths["jsonl"], paths["parquet"]], local_out, progress=None)
    ray_rows, local_rows = read_scores(ray_out), read_scores(local_out)
    assert len(ray_rows) == len(local_rows) == 144
    pd.testing.assert_frame_equal(
        sorted_scores(ray_rows), sorted_scores(local_rows), check_exact=False, atol=1e-6
    )
    assert ray_out.read_bytes() == local_out.read_bytes()  # order is kept too


@pytest.mark.slow
def test_ray_refuses_a_feed_id_repeated_across_files(tmp_path, fitted_fake_model, monkeypatch):
    """Each read task sees one file; the driver sees every feed id, and refuses repeats."""
    _need_ray()
    from relevance.batch.ray_engine import score_ray
    from relevance.batch.sinks import partial_path
    from relevance.io.schema import InputError

    folder = save_fake_model(fitted_fake_model[0], tmp_path / "model")
    paths = write_inputs(tmp_path, n_feeds=4, n_items=3)
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))
    out = tmp_path / "ray.jsonl"
    with pytest.raises(InputError, match="each feed once"):
        score_ray(
            folder,
            [paths["jsonl"], paths["csv"]],  # the same feeds twice
            out=out,
            use_cache=False,
            progress=None,
            embedder_factory="fakes:FakeEmbedder",
        )
    assert not out.exists() and not partial_path(out).exists()


@pytest.mark.slow
def test_ray_resumes_its_own_run_and_the_local_engines(tmp_path, fitted_fake_model, monkeypatch):
    """A stopped run, of either engine, continued by `--engine ray --resume`: the same bytes."""
    _need_ray()
    from relevance.batch.ray_engine import score_ray
    from relevance.batch.sinks import partial_path

    folder = save_fake_model(fitted_fake_model[0], tmp_path / "model")
    paths = write_inputs(tmp_path, n_feeds=12, n_items=4)
    second = pd.read_parquet(paths["parquet"])
    second["feed_id"] = "b-" + second["feed_id"]
    second.to_parquet(paths["parquet"], index=False, row_group_size=10)
    inputs = [paths["jsonl"], paths["parquet"]]
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))
    model, _ = load_fake(folder, use_cache=False)
    full = tmp_path / "full.jsonl"
    score_files(model, inputs, full, feeds_per_chunk=5, progress=None)
    ray_args = {"feeds_per_chunk": 5, "use_cache": False, "embedder_factory": "fakes:FakeEmbedder"}

    def interrupt(event):  # Ctrl-C once ten feeds are committed
        if event.done >= 10 and not event.finished:
            raise KeyboardInterrupt

    stopped = tmp_path / "ray.jsonl"
    with pytest.raises(KeyboardInterrupt, match="--resume continues"):
        score_ray(folder, inputs, out=stopped, progress=interrupt, **ray_args)
    assert not stopped.exists() and partial_path(stopped).exists()
    summary = score_ray(folder, inputs, out=stopped, resume=True, progress=None, **ray_args)
    assert summary.skipped_feeds >= 10 and summary.feeds == 24 - summary.skipped_feeds
    assert stopped.read_bytes() == full.read_bytes()

    local = tmp_path / "local.jsonl"
    early = score_files(model, inputs, local, feeds_per_chunk=5, progress=None, max_chunks=3)
    assert not early.complete and not local.exists()
    summary = score_ray(folder, inputs, out=local, resume=True, progress=None, **ray_args)
    assert summary.skipped_feeds == 15 and summary.feeds == 9  # 12 + 3: into the second file
    assert local.read_bytes() == full.read_bytes()
