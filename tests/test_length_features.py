"""The head's long-article copies of the features: layout, fitting, saving, old folders."""

from __future__ import annotations

import json

import numpy as np
import pytest
from fakes import FakeEmbedder, feeds_frame
from sklearn.base import clone

from relevance.model.estimator import RelevanceModel
from relevance.model.features import FEATURE_NAMES, LENGTH_FEATURES, with_length
from relevance.persistence.artifacts import load_model, save_model


def test_the_copies_are_the_features_times_longness():
    X = np.arange(6, dtype=float).reshape(3, 2)
    got = with_length(X, np.array([0.0, 0.5, 1.0]))
    assert got.shape == (3, 5)
    assert np.array_equal(got[:, :2], X)
    assert np.array_equal(got[:, 2:4], [[0, 0], [1, 1.5], [4, 5]])  # a blurb adds nothing
    assert np.array_equal(got[:, 4], [0.0, 0.5, 1.0])


def _mixed_feeds():
    """Graded fake feeds, every other one under a long article (the same text, repeated)."""
    frame = feeds_frame(graded=True)
    long = frame["feed_id"].isin(frame["feed_id"].unique()[::2])
    frame.loc[long, "article_body"] = (frame.loc[long, "article_body"] + " ") * 40
    return frame


@pytest.fixture(scope="module")
def fitted():
    frame = _mixed_feeds()
    return RelevanceModel(embedder=FakeEmbedder(), n_splits=3).fit(frame), frame


def test_a_model_fits_and_scores_with_the_copies(fitted):
    model, frame = fitted
    assert model.feature_names_ == [*FEATURE_NAMES, *LENGTH_FEATURES]
    for head in model.head_.heads.values():
        assert len(head.coef_) == 2 * len(FEATURE_NAMES) + 1
        assert np.any(head.coef_[len(FEATURE_NAMES) :] != 0)  # the long feeds taught them
    p = model.level_probabilities(frame)
    assert np.all(p["topic"] >= p["story"])
    assert clone(model).get_params()["length_features"] is True


def test_without_the_copies_the_head_is_the_plain_features():
    frame = _mixed_feeds()
    model = RelevanceModel(embedder=FakeEmbedder(), n_splits=3, length_features=False).fit(frame)
    assert model.feature_names_ == FEATURE_NAMES
    assert all(len(h.coef_) == len(FEATURE_NAMES) for h in model.head_.heads.values())


def test_the_layout_survives_save_and_load(fitted, tmp_path):
    model, frame = fitted
    folder = save_model(model, tmp_path / "m")
    loaded = load_model(folder, embedder=FakeEmbedder(), cache=False)
    assert loaded.length_features is True
    a, b = model.level_probabilities(frame), loaded.level_probabilities(frame)
    for level in a:
        assert np.allclose(a[level], b[level], atol=1e-12)


def test_a_folder_from_before_the_parameter_loads_as_it_was_fitted(tmp_path):
    """An older folder: the plain feature list and no ``length_features`` in its params."""
    frame = _mixed_feeds()
    model = RelevanceModel(embedder=FakeEmbedder(), n_splits=3, length_features=False).fit(frame)
    folder = save_model(model, tmp_path / "old")
    config = json.loads((folder / "config.json").read_text())
    del config["params"]["length_features"]
    (folder / "config.json").write_text(json.dumps(config))
    loaded = load_model(folder, embedder=FakeEmbedder(), cache=False)
    assert loaded.length_features is False
    a, b = model.level_probabilities(frame), loaded.level_probabilities(frame)
    assert all(np.allclose(a[k], b[k], atol=1e-12) for k in a)


def test_a_feature_list_of_neither_layout_is_refused(fitted, tmp_path):
    from relevance.persistence.folder import ModelLoadError

    folder = save_model(fitted[0], tmp_path / "m")
    config = json.loads((folder / "config.json").read_text())
    config["features"] = config["features"][:-1]
    (folder / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="features .* differ"):
        load_model(folder, embedder=FakeEmbedder(), cache=False)
