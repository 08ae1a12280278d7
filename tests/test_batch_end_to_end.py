"""Batch scoring with the real packaged MiniLM and the shipped model, both backends."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from relevance.batch import prepare_model, score_files
from relevance.cli import DEFAULT_MODEL_DIR, main

pytestmark = pytest.mark.slow

SEED = ROOT / "data" / "seed"


def _labels() -> dict[str, int]:
    data = json.loads((SEED / "labels.json").read_text(encoding="utf-8"))
    return {str(item["position"]): item["label"] for item in data["items"]}


def test_cached_run_never_loads_the_encoder(tmp_path):
    first = prepare_model(DEFAULT_MODEL_DIR, cache_dir=tmp_path / "cache")
    score_files(first, [SEED / "page.txt"], tmp_path / "a.jsonl", progress=None)
    assert first.embedder_.encoded > 0
    again = prepare_model(DEFAULT_MODEL_DIR, cache_dir=tmp_path / "cache")
    summary = score_files(again, [SEED / "page.txt"], tmp_path / "b.jsonl", progress=None)
    assert summary.encoded == 0 and summary.hit_rate == 1.0
    assert again.embedder_.inner._model is None  # the torch weights were never loaded
    assert (tmp_path / "a.jsonl").read_bytes() == (tmp_path / "b.jsonl").read_bytes()


def test_seed_page_with_the_shipped_int8_head(tmp_path):
    out = tmp_path / "seed.jsonl"
    args = ["score", str(SEED / "page.txt"), "--backend", "onnx-int8", "--out", str(out)]
    assert main([*args, "--no-progress"]) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    labels = _labels()
    worst_relevant = max(r["rank"] for r in rows if labels[r["item_id"]] == 1)
    best_off_topic = min(r["rank"] for r in rows if labels[r["item_id"]] == 0)
    assert len(rows) == 20 and worst_relevant < best_off_topic
    assert sum(r["relevant"] == bool(labels[r["item_id"]]) for r in rows) >= 19


def test_shipped_folder_has_both_heads():
    from relevance.persistence.artifacts import load_model

    torch_model = load_model(DEFAULT_MODEL_DIR)
    int8_model = load_model(DEFAULT_MODEL_DIR, backend="onnx-int8")
    assert torch_model.config_["embedder"]["backend"] == "torch"
    assert int8_model.config_["embedder"]["backend"] == "onnx-int8"
    assert int8_model.config_["training_data"] == torch_model.config_["training_data"]
    for level in ("story", "topic"):
        assert int8_model.config_["metrics"]["levels"][level]["oof_average_precision"] >= 0.88


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--resume"], "--resume needs --out"),
        (["--format", "parquet"], "--format parquet needs --out"),
        (["--engine", "ray", "--resume"], "--resume needs --out"),
    ],
)
def test_cli_output_errors_exit_2(extra, message, capsys):
    assert main(["score", str(SEED / "page.txt"), "--no-progress", *extra]) == 2
    assert message in capsys.readouterr().err


def test_cli_streams_many_formats_and_resumes(tmp_path, capsys):
    out = tmp_path / "seed.csv"
    args = ["score", str(SEED / "page.txt"), str(SEED / "page.txt"), "--out", str(out)]
    assert main([*args, "--no-progress"]) == 2  # the same page twice: one feed id twice
    assert "each feed once" in capsys.readouterr().err and not out.exists()
    assert main(["score", str(SEED / "page.txt"), "--out", str(out)]) == 0
    err = capsys.readouterr().err
    assert "1/1" in err and "items/s" in err and f"wrote {out}" in err
    # a page's items carry the heading of their module (the seed page: "Recommended Stories")
    header = "feed_id,item_id,title,probability,p_story,p_topic,relevant,rank,module"
    assert out.read_text().splitlines()[0] == header
