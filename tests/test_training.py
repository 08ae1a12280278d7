"""relevance train: reproducibility, formats, objectives, cache, card and fine-tuning flow.

The fake hashing embedder stands in for MiniLM (see tests/fakes.py), and a fake
fine-tuner for sentence-transformers' trainer; tests/test_finetune.py runs the real one.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import FakeEmbedder, make_feeds
from training_helpers import FakeFinetuner, folder_bytes, noisy_feeds, write_feeds, write_meta

from relevance.io.reader import read_inputs
from relevance.model.threshold import ObjectiveNotMet
from relevance.persistence.artifacts import load_model, sha256_file
from relevance.train.card import render_card
from relevance.train.finetune import FinetuneSettings, training_examples
from relevance.train.heldout import heldout_mask
from relevance.train.pipeline import train


@pytest.fixture
def data(tmp_path):
    feeds = make_feeds(24, 8, seed=0)
    return {
        "train": write_feeds(feeds, tmp_path / "train.jsonl"),
        "meta": write_meta(feeds, tmp_path / "train.meta.jsonl"),
        "eval": write_feeds(make_feeds(10, 8, seed=11), tmp_path / "eval.jsonl"),
        "root": tmp_path,
    }


def _fit(data, out, **kw):
    kw.setdefault("n_splits", 3)
    kw.setdefault("cache_dir", data["root"] / "cache")
    return train([data["train"]], out, embedder=FakeEmbedder(), **kw)


def test_two_runs_give_byte_identical_folders(data):
    kw = {"meta": data["meta"], "group_by": "anchor.story", "eval_data": [data["eval"]]}
    _fit(data, data["root"] / "a", **kw, use_cache=False)
    _fit(data, data["root"] / "b", **kw)  # cached or not: the same vectors, the same bytes
    a, b = folder_bytes(data["root"] / "a"), folder_bytes(data["root"] / "b")
    assert set(a) == {"README.md", "config.json", "head.json", "tfidf.json", "training_texts.json"}
    assert a == b


def test_retraining_over_an_existing_folder_replaces_it_whole(data):
    out = data["root"] / "m"
    _fit(data, out)
    (out / "stale.txt").write_text("left over")
    _fit(data, out)
    assert not (out / "stale.txt").exists()
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".m.")]


def test_out_that_is_not_a_model_folder_is_refused(data):
    out = data["root"] / "notes"
    out.mkdir()
    (out / "mine.txt").write_text("keep me")
    with pytest.raises(ValueError, match="not a model folder"):
        _fit(data, out)
    assert (out / "mine.txt").read_text() == "keep me"


@pytest.mark.parametrize("suffix", [".jsonl", ".csv", ".parquet"])
def test_every_format_trains_the_same_model(tmp_path, suffix):
    feeds = make_feeds(18, 6, seed=2)
    ref = write_feeds(feeds, tmp_path / "ref.jsonl")
    other = write_feeds(feeds, tmp_path / f"feeds{suffix}")
    kw = {"embedder": FakeEmbedder(), "n_splits": 3, "use_cache": False}
    a = train([ref], tmp_path / "a", **kw)
    b = train([other], tmp_path / "b", **kw)
    for name in ("head.json", "tfidf.json"):
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes()
    assert (
        a.report_.metrics["levels"]["story"]["oof"] == b.report_.metrics["levels"]["story"]["oof"]
    )
    config = json.loads((tmp_path / "b" / "config.json").read_text())
    assert config["training_data"]["file_details"][0]["format"] == suffix[1:]


def test_folds_follow_the_group_field_never_items(data):
    model = _fit(data, data["root"] / "m", meta=data["meta"], group_by="anchor.story")
    meta = [json.loads(line) for line in data["meta"].read_text().splitlines()]
    story = {m["feed_id"]: m["anchor"]["story"] for m in meta}
    assert model.train_info_["config"]["training_data"]["n_groups"] == 6
    feeds = [f["feed_id"] for f in make_feeds(24, 8, seed=0) for _ in range(8)]
    fold = model.report_.oof.fold
    for s in set(story.values()):
        rows = np.array([story[f] == s for f in feeds])
        assert len(np.unique(fold[rows])) == 1


def test_fold_metrics_and_their_spread_are_saved(data):
    _fit(data, data["root"] / "m")
    m = json.loads((data["root"] / "m" / "config.json").read_text())["metrics"]["levels"]["story"]
    assert len(m["folds"]) == 3
    for f in m["folds"]:
        assert {"average_precision", "roc_auc", "f1", "brier", "precision", "recall"} <= set(f)
    for key in ("average_precision", "roc_auc", "f1", "brier"):
        s = m["fold_spread"][key]
        values = [f[key] for f in m["folds"]]
        assert s["min"] == min(values) and s["max"] == max(values)
        assert s["mean"] == pytest.approx(np.mean(values))
        assert s["std"] == pytest.approx(np.std(values))
    lo, hi = m["oof"]["ci95"]["average_precision"]
    assert lo <= m["oof"]["metrics"]["average_precision"] <= hi


def test_min_precision_is_met_out_of_fold(tmp_path):
    path = write_feeds(noisy_feeds(), tmp_path / "noisy.jsonl")
    model = train(
        [path],
        tmp_path / "m",
        embedder=FakeEmbedder(),
        n_splits=3,
        use_cache=False,
        objective="min_precision",
        min_precision=0.9,
    )
    p, y = model.report_.oof.probability["story"], read_inputs([path])["label"].to_numpy()
    kept = p >= model.thresholds_["story"]
    assert kept.any() and y[kept].mean() >= 0.9
    assert model.threshold_choices_["story"].precision >= 0.9
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["threshold_choices"]["story"]["objective"] == "min_precision"
    assert "threshold" in (tmp_path / "m" / "README.md").read_text()
    assert "(min_precision)" in (tmp_path / "m" / "README.md").read_text()


def test_unreachable_precision_is_refused_not_silently_relaxed(tmp_path, capsys, monkeypatch):
    import relevance.train.pipeline
    from relevance.cli import main

    path = write_feeds(noisy_feeds(), tmp_path / "noisy.jsonl")
    with pytest.raises(ObjectiveNotMet, match="no threshold reaches out-of-fold precision 0.999"):
        train(
            [path],
            tmp_path / "m",
            embedder=FakeEmbedder(),
            n_splits=3,
            use_cache=False,
            objective="min_precision",
            min_precision=0.999,
        )
    assert not (tmp_path / "m").exists()
    monkeypatch.setattr(relevance.train.pipeline, "SentenceTransformerEmbedder", FakeEmbedder)
    argv = ["train", str(path), "--out", str(tmp_path / "m"), "--folds", "3", "--no-cache"]
    assert main([*argv, "--min-precision", "0.999"]) == 2
    err = capsys.readouterr().err
    assert "no threshold reaches out-of-fold precision 0.999" in err
    assert "the highest reached is" in err
    assert main([*argv, "--min-precision", "1.5"]) == 2
    assert "expected P or LEVEL=P, P in (0, 1]" in capsys.readouterr().err
    assert main([*argv, "--min-precision", "topic=0.9"]) == 2  # labels only: no topic level
    assert "topic" in capsys.readouterr().err


def test_second_run_encodes_nothing(data):
    cache = data["root"] / "cache"
    first, second = FakeEmbedder(), FakeEmbedder()
    train([data["train"]], data["root"] / "a", embedder=first, n_splits=3, cache_dir=cache)
    train([data["train"]], data["root"] / "b", embedder=second, n_splits=3, cache_dir=cache)
    assert first.texts_encoded > 0
    assert second.calls == 0 and second.texts_encoded == 0
    third = FakeEmbedder()
    train([data["train"]], data["root"] / "c", embedder=third, n_splits=3, use_cache=False)
    assert third.texts_encoded == first.texts_encoded


def test_model_card_renders_the_key_sections(data):
    _fit(
        data,
        data["root"] / "m",
        meta=data["meta"],
        group_by="anchor.story",
        eval_data=[data["eval"]],
    )
    folder = data["root"] / "m"
    card = (folder / "README.md").read_text()
    config = json.loads((folder / "config.json").read_text())
    assert card == render_card(config)
    assert card.startswith("---\nlicense: other\n")
    front = card.split("---\n")[1]
    for key in ("language:", "library_name:", "base_model:", "datasets:", "metrics:", "tags:"):
        assert key in front, key
    for heading in (
        "## Intended use",
        "## How to use",
        "## Training data",
        "Provenance and licences:",
        "## Model",
        "## Held-out stories",
        "## Cross-validated metrics",
        "## Evaluation (--eval)",
        "## Limitations",
        "## Files",
    ):
        assert heading in card, heading
    assert "CC BY-SA 4.0" in card and "Baba-Yagan/wp-current-events" in card
    method = config["calibration"]["story"]["method"]
    assert f"calibration of `story`: **{method}**" in card
    assert "English only" in card and "32 tokens" in card
    assert "model-index:" in front  # the held-out figures, machine-readable
    assert "relevance train train.jsonl --meta train.meta.jsonl --group-by anchor.story" in card
    assert config["files"]["README.md"] == sha256_file(folder / "README.md")
    assert "`README.md`" not in card  # every hash but its own
    load_model(folder, embedder=FakeEmbedder())


def test_card_says_unknown_provenance_without_meta(data):
    _fit(data, data["root"] / "m")
    assert "- unknown (no `provenance` field" in (data["root"] / "m" / "README.md").read_text()


def test_fine_tune_flow_with_a_fake_finetuner(data):
    tuner = FakeFinetuner()
    settings = FinetuneSettings(seed=0)
    kw = {
        "meta": data["meta"],
        "group_by": "anchor.story",
        "finetune": True,
        "finetune_settings": settings,
    }
    model = _fit(data, data["root"] / "a", finetuner=tuner, **kw)
    assert tuner.tuned == 2  # once on the non-held-out stories, once on all
    folder = data["root"] / "a"
    config = json.loads((folder / "config.json").read_text())
    assert config["embedder"]["model"] == "embedder"
    assert {"embedder/model.safetensors", "embedder/modules.json"} <= set(config["files"])
    held = config["finetune"]["heldout"]
    assert held["verdicts"]["story"] in ("helped", "hurt", "no clear difference")
    assert set(held["levels"]["story"]) >= {"new", "old", "delta_average_precision"}
    assert held["split"]["n_groups_heldout"] == 2  # ceil(25% of 6 stories)
    card = (folder / "README.md").read_text()
    assert "Fine-tuned against frozen embedder" in card and "**Optimistic:**" in card
    tuned = tuner.load(folder / "embedder")
    assert config["embedder"]["sha256"] == tuned.fingerprint
    assert model.embedder_.fingerprint == tuned.fingerprint
    load_model(folder, embedder=tuned)
    _fit(data, data["root"] / "b", finetuner=FakeFinetuner(), **kw)
    assert folder_bytes(folder) == folder_bytes(data["root"] / "b")


def test_heldout_split_is_fixed_by_group_names():
    groups = np.array([f"story-{i % 8}" for i in range(40)])
    mask = heldout_mask(groups)
    assert len(set(groups[mask])) == 2
    assert (heldout_mask(groups[::-1]) == mask[::-1]).all()


def test_training_examples_are_relevant_items_with_their_article():
    from fakes import feeds_frame

    frame = feeds_frame(4, 6)
    ex = training_examples(frame)
    assert len(ex.anchors) == len(ex.positives) == int(frame["label"].sum())
    assert len(set(ex.anchors)) == 4
    assert ex.negatives is None  # labels only: in-batch negatives alone


def test_graded_examples_take_a_related_story_as_hard_negative():
    from fakes import feeds_frame

    from relevance.io.text import feed_texts

    frame = feeds_frame(6, 8, graded=True)
    ex = training_examples(frame)
    texts = feed_texts(frame).items
    related = {t for t, g in zip(texts, frame["grade"], strict=True) if g == 1}
    assert len(ex.negatives) == len(ex.anchors) == int((frame["grade"] == 2).sum())
    assert set(ex.negatives) <= related  # every feed here has a related item
