"""The real packaged MiniLM and the shipped default model, end to end."""

import json

import pytest
from conftest import ROOT

from relevance.cli import DEFAULT_MODEL_DIR, main

pytestmark = pytest.mark.slow

SEED = ROOT / "data" / "seed"


def _labels() -> dict[str, int]:
    data = json.loads((SEED / "labels.json").read_text(encoding="utf-8"))
    return {str(item["position"]): item["label"] for item in data["items"]}


FROZEN_MODEL_DIR = ROOT / "models" / "frozen"


@pytest.mark.parametrize(
    ("model_dir", "backend"),
    [(DEFAULT_MODEL_DIR, "torch"), (DEFAULT_MODEL_DIR, "onnx-int8")],
    ids=["default-torch", "default-int8"],
)
def test_seed_page_ranks_relevant_first_and_threshold_is_right(tmp_path, model_dir, backend):
    """At the default (topic) level: all 9 relevant items above the 11 off-topic, >= 19 right."""
    out = tmp_path / "seed.jsonl"
    args = ["score", str(SEED / "page.txt"), "--format", "jsonl", "--out", str(out)]
    args += ["--model", str(model_dir), "--backend", backend, "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    labels = _labels()
    assert len(rows) == 20 and list(rows[0]) == [
        "feed_id", "item_id", "title", "probability", "p_story", "p_topic", "relevant", "rank",
        "module",  # the page's module heading ("Recommended Stories")
    ]  # fmt: skip
    assert all(r["probability"] == r["p_topic"] >= r["p_story"] for r in rows)
    worst_relevant = max(r["rank"] for r in rows if labels[r["item_id"]] == 1)
    best_off_topic = min(r["rank"] for r in rows if labels[r["item_id"]] == 0)
    assert worst_relevant < best_off_topic
    correct = sum(r["relevant"] == bool(labels[r["item_id"]]) for r in rows)
    assert correct >= 19


@pytest.mark.parametrize("backend", ["torch", "onnx-int8"])
def test_seed_page_with_the_frozen_embedder(tmp_path, backend):
    """The frozen MiniLM is weaker here: one off-topic item may slip above a relevant one."""
    out = tmp_path / "seed.jsonl"
    args = ["score", str(SEED / "page.txt"), "--format", "jsonl", "--out", str(out)]
    args += ["--model", str(FROZEN_MODEL_DIR), "--backend", backend, "--cache-dir", str(tmp_path)]
    assert main(args) == 0
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    labels = _labels()
    off_topic_above = [
        r for r in rows
        if labels[r["item_id"]] == 0
        and r["rank"] < max(x["rank"] for x in rows if labels[x["item_id"]] == 1)
    ]  # fmt: skip
    assert len(off_topic_above) <= 1
    assert sum(r["relevant"] == bool(labels[r["item_id"]]) for r in rows) >= 18


def test_seed_page_story_level_keeps_the_same_story(tmp_path):
    """At the story level the Geneva-talks items stay; the topical UN and Belarus ones drop."""
    out = tmp_path / "seed.jsonl"
    args = ["score", str(SEED / "page.txt"), "--format", "jsonl", "--out", str(out)]
    assert main([*args, "--level", "story", "--cache-dir", str(tmp_path)]) == 0
    rows = {r["title"]: r for r in map(json.loads, out.read_text().splitlines())}
    assert all(r["probability"] == r["p_story"] for r in rows.values())
    kept = {t for t, r in rows.items() if r["relevant"]}
    assert any("Ukraine" in t for t in kept)
    assert not any(t.startswith(("US charges four Belarus", "UN chief")) for t in kept)


def test_seed_page_table_to_terminal(capsys):
    assert main(["score", str(SEED / "page.txt")]) == 0
    text = capsys.readouterr().out
    assert "items kept" in text and "keep" in text and "drop" in text
    first = [line for line in text.splitlines() if line.strip().startswith("1 ")][0]
    assert "Ukraine" in first or "Russia" in first


def test_default_model_has_a_finetuned_embedder_that_beat_the_frozen_one():
    from relevance.persistence.artifacts import load_model

    model = load_model(DEFAULT_MODEL_DIR)
    config = model.config_
    assert config["embedder"]["model"] == "embedder"  # tuned weights inside the folder
    assert "embedder/model.safetensors" in config["files"]  # hash-checked at load
    assert config["finetune"]["weights_dtype"] == "float16"
    held = config["finetune"]["heldout"]
    assert held["beats"] and set(held["levels"]) == {"story", "topic"}  # promoted on evidence
    for level in ("story", "topic"):
        assert held["levels"][level]["delta_average_precision"]["delta"] > 0
    assert held["levels"]["topic"]["delta_average_precision"]["ci95"][0] > 0
    assert "--finetune-embedder" in config["command"]
    assert config["levels"] == ["story", "topic"] and config["default_level"] == "topic"
    for m in config["metrics"]["levels"].values():
        assert m["oof_average_precision"] > max(m["oof_baseline_average_precision"].values())
        assert m["oof_ece"] <= 0.05


def test_frozen_model_uses_the_packaged_minilm():
    from relevance.persistence.artifacts import load_model

    config = load_model(FROZEN_MODEL_DIR).config_
    assert config["embedder"]["model"] == "sentence-transformers/all-MiniLM-L6-v2"
    for m in config["metrics"]["levels"].values():
        assert m["oof_average_precision"] >= 0.85
        assert m["oof_average_precision"] > max(m["oof_baseline_average_precision"].values())


def test_bad_input_exits_2_with_a_message(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"feed_id": "x", "article": {"title": "t", "body": "b"}, "items": []}\n')
    assert main(["score", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "bad.jsonl:1" in err and "items" in err
