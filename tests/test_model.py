import json

import numpy as np
import pytest
from fakes import FakeEmbedder, feeds_frame

from relevance.model.estimator import SCORE_COLUMNS, NotFittedError, RelevanceModel
from relevance.persistence.artifacts import ModelLoadError, load_model, save_model


def test_fit_sets_fitted_attributes_and_learns(fitted_fake_model):
    model, frame = fitted_fake_model
    assert model.levels_ == ("story",) and model.default_level_ == "story"
    assert 0 < model.thresholds_["story"] < 1
    m = model.report_.metrics["levels"]["story"]
    assert m["oof_average_precision"] > 0.9
    assert len(m["folds"]) == 3
    assert set(m["oof_baseline_average_precision"]) == {"cosine", "tfidf"}
    assert model.head_.calibrators["story"].method in ("sigmoid", "sigmoid_length", "isotonic")


def test_graded_data_trains_both_levels(fitted_graded_model):
    model, frame = fitted_graded_model
    assert model.levels_ == ("story", "topic") and model.default_level_ == "topic"
    assert list(model.classes_) == [0, 1, 2]
    assert set(model.head_.heads) == {"topic", "story_given_topic"}
    m = model.report_.metrics["levels"]
    assert m["topic"]["n_relevant"] == int((frame["grade"] >= 1).sum())
    assert m["story"]["n_relevant"] == int((frame["grade"] == 2).sum())
    assert m["topic"]["oof_average_precision"] > 0.8 and m["story"]["oof_average_precision"] > 0.8


def test_topic_probability_is_never_below_story(fitted_graded_model):
    model, _ = fitted_graded_model
    new = feeds_frame(8, 9, seed=21, graded=True)
    p = model.level_probabilities(new)
    assert (p["topic"] >= p["story"]).all()
    assert (p["story"] >= 0).all() and (p["topic"] <= 1).all()
    proba = model.predict_proba(new)
    assert proba.shape == (len(new), 3) and (proba >= 0).all()
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    np.testing.assert_allclose(proba[:, 2], p["story"])
    np.testing.assert_allclose(proba[:, 1] + proba[:, 2], p["topic"])
    # related stories sit between: more topical than off-topic items, less story than story
    grade = new["grade"].to_numpy()
    assert p["topic"][grade == 1].mean() > p["topic"][grade == 0].mean()
    assert p["story"][grade == 1].mean() < p["story"][grade == 2].mean()


def test_level_drives_probability_relevant_and_rank(fitted_graded_model):
    model, frame = fitted_graded_model
    new = feeds_frame(5, 8, seed=9, graded=True)
    for level in ("story", "topic"):
        out = model.score_frame(new, level=level)
        assert list(out.columns) == [*SCORE_COLUMNS, "label", "grade"]
        np.testing.assert_array_equal(out["probability"], out[f"p_{level}"])
        assert (out["relevant"] == (out[f"p_{level}"] >= model.thresholds_[level])).all()
    default = model.score_frame(new)
    assert default["probability"].equals(default["p_topic"])
    capped = model.score_frame(new, level="topic", top_k=1)
    assert (capped.groupby("feed_id")["relevant"].sum() <= 1).all()
    everything = model.score_frame(new, threshold=0.0)
    assert everything["relevant"].all()


def test_a_story_only_model_has_no_topic_level(fitted_fake_model):
    from relevance.model.levels import LevelError

    model, frame = fitted_fake_model
    out = model.score_frame(frame.drop(columns=["label"]))
    assert out["p_topic"].isna().all() and out["probability"].equals(out["p_story"])
    with pytest.raises(LevelError, match="only the story level"):
        model.score_frame(frame, level="topic")


def test_score_columns_ranks_and_threshold(fitted_fake_model):
    model, frame = fitted_fake_model
    new = feeds_frame(n_feeds=6, n_items=8, seed=7).drop(columns=["label"])
    out = model.score_frame(new)
    assert list(out.columns) == SCORE_COLUMNS
    assert out["probability"].between(0, 1).all()
    assert (out["relevant"] == (out["probability"] >= model.thresholds_["story"])).all()
    for _, group in out.groupby("feed_id"):
        assert sorted(group["rank"]) == list(range(1, len(group) + 1))
        top = group.sort_values("rank")["probability"].to_numpy()
        assert (np.diff(top) <= 0).all()
    truth = feeds_frame(n_feeds=6, n_items=8, seed=7)["label"].to_numpy()
    assert ((out["relevant"].to_numpy() == truth.astype(bool)).mean()) > 0.9


def test_unfitted_model_refuses_to_score():
    with pytest.raises(NotFittedError):
        RelevanceModel(embedder=FakeEmbedder()).score_frame(feeds_frame(2, 3))


def test_one_class_training_data_is_refused():
    frame = feeds_frame(6, 4)
    frame["label"] = 0
    with pytest.raises(ValueError, match="one class"):
        RelevanceModel(embedder=FakeEmbedder(), n_splits=3).fit(frame)


def test_groups_keep_a_story_in_one_fold():
    frame = feeds_frame(12, 4)
    groups = (frame["feed_id"].str[-3:].astype(int) % 4).to_numpy()
    model = RelevanceModel(embedder=FakeEmbedder(), n_splits=4).fit(frame, groups=groups)
    fold = model.report_.oof.fold
    for g in np.unique(groups):
        assert len(np.unique(fold[groups == g])) == 1


def test_save_load_round_trip_gives_identical_scores(fitted_fake_model, tmp_path):
    model, frame = fitted_fake_model
    save_model(model, tmp_path / "m", training={"sha256": "x"})
    loaded = load_model(tmp_path / "m", embedder=FakeEmbedder())
    a, b = model.score_frame(frame), loaded.score_frame(frame)
    assert a.equals(b)
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    for key in ("schema_version", "versions", "embedder", "features", "thresholds", "metrics"):
        assert key in config
    assert config["embedder"]["sha256"] == FakeEmbedder().fingerprint
    assert not list((tmp_path / "m").glob("*.pkl"))


def test_per_level_thresholds_survive_save_and_load(fitted_graded_model, tmp_path):
    model, frame = fitted_graded_model
    save_model(model, tmp_path / "m")
    loaded = load_model(tmp_path / "m", embedder=FakeEmbedder())
    assert loaded.thresholds_ == model.thresholds_
    assert loaded.thresholds_["story"] != loaded.thresholds_["topic"]
    assert loaded.levels_ == ("story", "topic") and loaded.default_level_ == "topic"
    assert loaded.threshold_choices_ == model.threshold_choices_
    for level in ("story", "topic"):
        a, b = model.score_frame(frame, level=level), loaded.score_frame(frame, level=level)
        assert a.equals(b)


def test_save_is_byte_identical_for_same_fit(tmp_path):
    frame = feeds_frame(12, 6)
    for name in ("a", "b"):
        m = RelevanceModel(embedder=FakeEmbedder(), n_splits=3).fit(frame)
        save_model(m, tmp_path / name)
    for f in ("config.json", "head.json", "tfidf.json"):
        assert (tmp_path / "a" / f).read_bytes() == (tmp_path / "b" / f).read_bytes()


@pytest.fixture
def saved(fitted_fake_model, tmp_path):
    model, _ = fitted_fake_model
    return save_model(model, tmp_path / "m")


def test_tampered_head_is_refused(saved):
    head = json.loads((saved / "head.json").read_text())
    head["stages"]["story"]["head"]["intercept"] += 1.0
    (saved / "head.json").write_text(json.dumps(head))
    with pytest.raises(ModelLoadError, match="head.json.*sha256"):
        load_model(saved, embedder=FakeEmbedder())


def test_missing_file_is_named(saved):
    (saved / "tfidf.json").unlink()
    with pytest.raises(ModelLoadError, match="missing tfidf.json"):
        load_model(saved, embedder=FakeEmbedder())


def test_other_embedder_is_refused(saved):
    with pytest.raises(ModelLoadError, match="fitted on embedder"):
        load_model(saved, embedder=FakeEmbedder(salt="other"))


def test_config_path_outside_folder_is_refused(saved):
    config = json.loads((saved / "config.json").read_text())
    config["files"]["../escape.json"] = "0" * 64
    (saved / "config.json").write_text(json.dumps(config))
    with pytest.raises(ModelLoadError, match="outside the model folder"):
        load_model(saved, embedder=FakeEmbedder())


def test_not_a_folder(tmp_path):
    with pytest.raises(ModelLoadError, match="no such directory"):
        load_model(tmp_path / "nope", embedder=FakeEmbedder())


# -- scikit-learn conformance ------------------------------------------------------------


def test_clone_get_params_and_set_params():
    from sklearn.base import clone

    model = RelevanceModel(embedder=FakeEmbedder(), C=0.5, n_splits=3, objective="f1")
    params = model.get_params()
    assert params["C"] == 0.5 and params["n_splits"] == 3 and "embedder" in params
    copy = clone(model)
    assert copy is not model and copy.get_params()["C"] == 0.5
    assert model.set_params(C=2.0) is model and model.C == 2.0


def test_an_invalid_parameter_fails_before_any_embedding():
    from sklearn.utils._param_validation import InvalidParameterError

    fake = FakeEmbedder()
    for bad in ({"objective": "accuracy"}, {"n_splits": 1}, {"C": -1.0}, {"min_recall": 2.0}):
        with pytest.raises(InvalidParameterError):
            RelevanceModel(embedder=fake, **bad).fit(feeds_frame(6, 4))
    with pytest.raises(InvalidParameterError, match="needs min_precision"):
        RelevanceModel(embedder=fake, objective="min_precision").fit(feeds_frame(6, 4))
    assert fake.calls == 0


def test_fit_never_replaces_the_embedder_parameter(fitted_fake_model):
    model = RelevanceModel(n_splits=3)
    frame = feeds_frame(9, 4)
    fake = FakeEmbedder()
    model.set_params(embedder=fake).fit(frame)
    assert model.embedder is fake and model.embedder_ is fake
    unset = RelevanceModel(n_splits=3)
    assert unset.get_params()["embedder"] is None  # resolved only into embedder_, at fit


def test_predict_proba_is_n_by_classes_and_predict_uses_the_threshold(fitted_fake_model):
    from sklearn.utils.validation import check_is_fitted

    model, frame = fitted_fake_model
    check_is_fitted(model)
    proba = model.predict_proba(frame)
    assert proba.shape == (len(frame), 2) and list(model.classes_) == [0, 1]
    np.testing.assert_allclose(proba.sum(axis=1), 1.0)
    assert (model.predict(frame) == (proba[:, 1] >= model.thresholds_["story"])).all()
    with pytest.raises(NotFittedError):
        check_is_fitted(RelevanceModel(embedder=FakeEmbedder()))


def test_labels_may_be_passed_as_y():
    frame = feeds_frame(9, 4)
    y = frame.pop("label").to_numpy()
    a = RelevanceModel(embedder=FakeEmbedder(), n_splits=3).fit(frame, y)
    b = RelevanceModel(embedder=FakeEmbedder(), n_splits=3).fit(frame.assign(label=y))
    assert a.thresholds_ == b.thresholds_


def test_grades_may_be_passed_as_y(fitted_graded_model):
    model, frame = fitted_graded_model
    grade = frame["grade"].to_numpy()
    bare = frame.drop(columns=["label", "grade"])
    a = RelevanceModel(embedder=FakeEmbedder(), n_splits=3).fit(bare, grade)
    assert a.levels_ == ("story", "topic") and a.thresholds_ == model.thresholds_


def test_per_level_objectives_are_validated_before_any_work():
    from sklearn.utils._param_validation import InvalidParameterError

    fake = FakeEmbedder()
    frame = feeds_frame(6, 4, graded=True)
    for bad in (
        {"objective": {"storey": "f1"}},
        {"objective": {"story": "min_precision"}},  # no floor given for it
        {"min_precision": {"topic": 1.5}},
    ):
        with pytest.raises(InvalidParameterError):
            RelevanceModel(embedder=fake, **bad).fit(frame)
    assert fake.calls == 0
    ok = RelevanceModel(objective={"story": "min_precision"}, min_precision={"story": 0.5})
    assert ok.level_objective("story") == ("min_precision", 0.5, None)
    assert ok.level_objective("topic") == ("f1", None, None)
