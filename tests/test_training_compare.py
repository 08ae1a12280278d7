"""--compare / --eval / --promote with fake-embedder models."""

from __future__ import annotations

import json

import pytest
from fakes import FakeEmbedder, make_feeds
from training_helpers import folder_bytes, write_feeds

import relevance.train.compare
import relevance.train.pipeline
from relevance.cli import main
from relevance.train.compare import PromotionRefused, not_worse, promote
from relevance.train.pipeline import train


@pytest.fixture
def setup(tmp_path):
    train_feeds = make_feeds(24, 8, seed=0)
    noisy = make_feeds(24, 8, seed=0)
    for f in noisy:  # a worse training set: a quarter of the relevant items mislabelled
        for it in f["items"]:
            if it["label"] == 1 and it["id"].endswith(("-i0", "-i1")):
                it["label"] = 0
            elif it["label"] == 0 and it["id"].endswith("-i7"):
                it["label"] = 1
    root = tmp_path
    paths = {
        "train": write_feeds(train_feeds, root / "train.jsonl"),
        "noisy": write_feeds(noisy, root / "noisy.jsonl"),
        "eval": write_feeds(make_feeds(16, 8, seed=21), root / "eval.jsonl"),
        "root": root,
        "default": root / "models" / "default",
    }
    kw = {"embedder": FakeEmbedder(), "n_splits": 3, "cache_dir": root / "cache"}
    train([paths["train"]], paths["default"], **kw)
    return paths


def _kw(setup, **extra):
    return {
        "embedder": FakeEmbedder(),
        "compare_embedder": FakeEmbedder(),
        "n_splits": 3,
        "cache_dir": setup["root"] / "cache",
        "eval_data": [setup["eval"]],
        "compare": setup["default"],
        **extra,
    }


def test_not_worse_rule():
    assert not_worse({"delta": 0.0, "ci95": [-0.05, 0.05]})
    assert not_worse({"delta": -0.001, "ci95": [-0.004, 0.002]})
    assert not not_worse({"delta": -0.001, "ci95": [-0.006, 0.002]})
    assert not not_worse({"delta": -0.02, "ci95": [-0.04, -0.01]})


def test_worse_model_is_not_promoted(setup):
    before = folder_bytes(setup["default"])
    new = setup["root"] / "new"
    with pytest.raises(PromotionRefused, match=r"promotion refused: new vs .* delta -\d") as exc:
        train([setup["noisy"]], new, **_kw(setup, promote_model=True))
    assert "95% CI" in str(exc.value) and "is unchanged" in str(exc.value)
    assert folder_bytes(setup["default"]) == before
    config = json.loads((new / "config.json").read_text())  # the new model is still saved
    assert config["comparison"]["not_worse"] is False
    assert "## Comparison" in (new / "README.md").read_text()


def test_not_worse_model_is_promoted_atomically(setup):
    new = setup["root"] / "new"
    model = train([setup["train"]], new, **_kw(setup, promote_model=True))
    info = model.train_info_
    assert "delta +0.0000" in info["comparison"]  # same data, same seed: the same model
    assert info["promotion"].startswith(f"promoted {new} to {setup['default']} (replaced")
    assert folder_bytes(setup["default"]) == folder_bytes(new)
    leftovers = [p.name for p in setup["default"].parent.iterdir() if p.name.startswith(".")]
    assert leftovers == []


def test_compare_alone_leaves_the_old_model(setup):
    before = folder_bytes(setup["default"])
    model = train([setup["train"]], setup["root"] / "new", **_kw(setup))
    assert "average precision" in model.train_info_["comparison"]
    assert "promotion" not in model.train_info_
    assert folder_bytes(setup["default"]) == before


def test_promote_into_a_new_place_and_verifies(setup, tmp_path):
    target = tmp_path / "elsewhere" / "model"
    message = promote(setup["default"], target)
    assert "created" in message and (target / "config.json").is_file()
    (target / "head.json").write_text("{}")
    with pytest.raises(ValueError, match="sha256"):
        promote(target, tmp_path / "again")
    assert not (tmp_path / "again").exists()


def test_swap_works_without_renameat2(setup, tmp_path, monkeypatch):
    monkeypatch.setattr(relevance.train.compare, "_exchange", lambda a, b: False)
    target = tmp_path / "swap" / "t"
    promote(setup["default"], target)
    promote(setup["default"], target)
    assert sorted(p.name for p in target.parent.iterdir()) == ["t"]


def test_cli_compare_and_promote_exit_codes(setup, monkeypatch, capsys):
    monkeypatch.setattr(relevance.train.pipeline, "SentenceTransformerEmbedder", FakeEmbedder)
    monkeypatch.setattr(
        relevance.train.compare, "make_embedder", lambda folder, config: FakeEmbedder()
    )
    base = ["--folds", "3", "--eval", str(setup["eval"])]
    base += ["--compare", str(setup["default"]), "--cache-dir", str(setup["root"] / "cache")]
    new = str(setup["root"] / "new")
    before = folder_bytes(setup["default"])
    assert main(["train", str(setup["noisy"]), "--out", new, *base, "--promote"]) == 3
    err = capsys.readouterr().err
    assert "promotion refused" in err and "95% CI" in err
    assert folder_bytes(setup["default"]) == before
    assert main(["train", str(setup["train"]), "--out", new, *base]) == 0
    assert "left unchanged" in capsys.readouterr().out
    assert main(["train", str(setup["train"]), "--out", new, *base, "--promote"]) == 0
    out = capsys.readouterr().out
    assert "--eval story: average precision" in out and "promoted" in out
    assert main(["train", str(setup["train"]), "--out", new, "--compare", new]) == 2


def test_out_must_not_be_the_compared_folder(setup):
    before = folder_bytes(setup["default"])
    with pytest.raises(ValueError, match="is the --compare folder"):
        train([setup["noisy"]], setup["default"], **_kw(setup, promote_model=True))
    assert folder_bytes(setup["default"]) == before
