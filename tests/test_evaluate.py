"""The evaluation harness on a fitted fake model: schema, intervals, determinism, slices."""

from __future__ import annotations

import json
import math
import re

import numpy as np
import pytest
from fakes import TOPICS, FakeEmbedder, make_feeds

from relevance.eval.evaluation import evaluate
from relevance.eval.report import render_html, render_markdown, write_report
from relevance.eval.slices import MISSING, slice_values
from relevance.io.reader import read_inputs
from relevance.io.schema import InputError
from relevance.model.estimator import RelevanceModel
from relevance.persistence.artifacts import load_model, save_model

SYSTEM_KEYS = {"average_precision", "roc_auc", "ndcg@5", "ndcg@10", "map", "mrr", "group_auc"}
MODEL_KEYS = SYSTEM_KEYS | {"precision", "recall", "f1", "mcc", "brier", "ece"}
N_BOOT = 200


def _eval_feeds() -> list[dict]:
    """Unseen fake feeds with some labels flipped, so the model is sure to make mistakes."""
    feeds = make_feeds(n_feeds=18, seed=7)
    for feed in feeds[:4]:
        pos = next(i for i in feed["items"] if i["label"] == 1)
        neg = next(i for i in feed["items"] if i["label"] == 0)
        pos["label"], neg["label"] = 0, 1
    return feeds


def _meta(feeds: list[dict]) -> list[dict]:
    topics = sorted(TOPICS)
    records = []
    for f, feed in enumerate(feeds):
        items = [
            {"id": it["id"], "relation": "same_story" if it["label"] else "neg_other"}
            for it in feed["items"][1:]  # the first item has no meta entry -> "(missing)"
        ]
        records.append(
            {
                "feed_id": feed["feed_id"],
                "anchor": {"category": topics[f % len(topics)], "story": f"s{f % 5}"},
                "items": items,
            }
        )
    records[0]["anchor"]["category"] = "<script>alert(1)</script>"
    return records


@pytest.fixture(scope="module")
def setup(tmp_path_factory, fitted_fake_model):
    """A saved fake model, labelled eval feeds and their meta file."""
    root = tmp_path_factory.mktemp("evaluate")
    from relevance.io.text import content_digests

    model, train = fitted_fake_model
    save_model(model, root / "model", training={}, trained_on=content_digests(train))
    feeds = _eval_feeds()
    data = root / "feeds.jsonl"
    data.write_text("".join(json.dumps(f) + "\n" for f in feeds), encoding="utf-8")
    meta = root / "meta.jsonl"
    meta.write_text("".join(json.dumps(r) + "\n" for r in _meta(feeds)), encoding="utf-8")
    return {"root": root, "model": root / "model", "data": data, "meta": meta}


def _run(setup, out=None, **kw):
    model = load_model(setup["model"], embedder=FakeEmbedder())
    frame = read_inputs([setup["data"]])
    kw.setdefault("n_resamples", N_BOOT)
    result = evaluate(frame, model, **kw)
    paths = write_report(result, out) if out is not None else None
    return result, paths


def test_metrics_json_schema_and_intervals(setup, tmp_path):
    result, paths = _run(setup, tmp_path / "out", meta=setup["meta"], slice_by="relation")
    doc = json.loads(paths["metrics.json"].read_text())
    assert set(doc) >= {"data", "level", "levels", "models", "bootstrap"}
    assert doc["data"]["n_feeds"] == 18 and doc["data"]["n_items"] == 18 * 8
    assert set(doc["levels"]) == {"story"} and doc["level"] == "story"  # labels only
    assert doc["data"]["n_relevant"] == int(result.levels["story"].y.sum())
    assert re.fullmatch(r"[0-9a-f]{64}", doc["data"]["sha256"])
    top = doc
    doc = doc["levels"]["story"]
    assert doc["threshold"] == load_model(setup["model"], FakeEmbedder()).thresholds_["story"]
    assert set(doc["systems"]) == {"model", "cosine", "tfidf"}
    assert set(doc["systems"]["model"]) >= MODEL_KEYS | {"ci95", "tp", "fp", "tn", "fn"}
    for name, system in doc["systems"].items():
        assert set(system) >= SYSTEM_KEYS | {"ci95"}, name
        for key, (lo, hi) in system["ci95"].items():
            value = system[key]
            if value is None:
                continue
            assert lo is not None and lo <= value + 1e-9 and value <= hi + 1e-9, (name, key)
    counts = doc["systems"]["model"]
    assert counts["tp"] + counts["fp"] + counts["tn"] + counts["fn"] == top["data"]["n_items"]
    assert top["models"]["model"]["in_sample"] is False
    assert set(doc["slices"]) == {"article_length", "relation"}
    ta = doc["threshold_analysis"]
    assert ta["trained_threshold"] == doc["threshold"] and 0 < ta["best_f1_threshold"] <= 1
    assert len(ta["sweep"]) == 99


def test_json_has_no_nan_and_sorted_keys(setup, tmp_path):
    _, paths = _run(setup, tmp_path)
    text = paths["metrics.json"].read_text()
    assert "NaN" not in text
    doc = json.loads(text)
    assert list(doc) == sorted(doc)


def test_two_runs_are_byte_identical(setup, tmp_path):
    a = _run(setup, tmp_path / "a", meta=setup["meta"], slice_by="anchor.category")[1]
    b = _run(setup, tmp_path / "b", meta=setup["meta"], slice_by="anchor.category")[1]
    assert a["metrics.json"].read_bytes() == b["metrics.json"].read_bytes()
    assert a["report.md"].read_bytes() == b["report.md"].read_bytes()


def test_seed_changes_intervals_not_points(setup):
    a = _run(setup, seed=0)[0].levels["story"].metrics["systems"]["model"]
    b = _run(setup, seed=1)[0].levels["story"].metrics["systems"]["model"]
    assert a["average_precision"] == b["average_precision"]
    assert a["ci95"] != b["ci95"]


def test_compare_with_itself_gives_zero_delta_and_embeds_once(setup):
    embedder = FakeEmbedder()
    model = load_model(setup["model"], embedder=embedder, cache=False)
    frame = read_inputs([setup["data"]])
    result = evaluate(frame, model, compare=model, n_resamples=N_BOOT)
    assert embedder.calls == 1
    compare = result.levels["story"].metrics["systems"]["compare"]
    assert set(compare) >= MODEL_KEYS | {"ci95", "delta_average_precision"}
    delta = compare["delta_average_precision"]
    assert delta["delta"] == 0 and delta["ci95"] == [0.0, 0.0]
    assert (
        compare["average_precision"]
        == result.levels["story"].metrics["systems"]["model"]["average_precision"]
    )


def test_compare_with_another_embedder_embeds_again(setup, fitted_fake_model):
    _, train = fitted_fake_model
    other = RelevanceModel(embedder=FakeEmbedder(salt="x"), n_splits=3).fit(train)
    model = load_model(setup["model"], embedder=FakeEmbedder())
    frame = read_inputs([setup["data"]])
    before = other.embedder_.calls
    result = evaluate(frame, model, compare=other, n_resamples=N_BOOT)
    assert other.embedder_.calls == before + 1
    assert not np.allclose(
        result.levels["story"].scores["model"], result.levels["story"].scores["compare"]
    )
    delta = result.levels["story"].metrics["systems"]["compare"]["delta_average_precision"]
    ap = {
        k: result.levels["story"].metrics["systems"][k]["average_precision"]
        for k in ("model", "compare")
    }
    assert delta["delta"] == pytest.approx(ap["model"] - ap["compare"])
    assert delta["ci95"][0] <= delta["delta"] <= delta["ci95"][1]
    assert 0 <= delta["p_value"] <= 1


def test_slices_by_a_column_are_feed_level(setup):
    model = load_model(setup["model"], embedder=FakeEmbedder())
    frame = read_inputs([setup["data"]])
    frame["half"] = np.where(frame["feed_id"] < "feed-009", "first", "second")
    sl = evaluate(frame, model, slice_by="half", n_resamples=N_BOOT).metrics["levels"]["story"][
        "slices"
    ]["half"]
    assert sl["source"] == "column" and sl["feed_level"] is True
    assert [r["value"] for r in sl["rows"]] == ["first", "second"]
    assert sum(r["n_items"] for r in sl["rows"]) == len(frame)
    assert sum(r["n_feeds"] for r in sl["rows"]) == 18
    assert {"ndcg@10", "map", "average_precision", "f1"} <= set(sl["rows"][0]["model"])
    assert set(sl["rows"][0]["average_precision"]) == {"model", "cosine", "tfidf"}


def test_slices_by_meta_item_field(setup):
    result, _ = _run(setup, meta=setup["meta"], slice_by="relation")
    sl = result.levels["story"].metrics["slices"]["relation"]
    assert sl["source"] == "item" and sl["feed_level"] is False
    rows = {r["value"]: r for r in sl["rows"]}
    assert set(rows) == {"same_story", "neg_other", MISSING}
    assert rows[MISSING]["n_items"] == 18
    assert rows["same_story"]["n_relevant"] == rows["same_story"]["n_items"]
    assert "ndcg@10" not in rows["same_story"]["model"]  # a part of a feed is no ranking
    assert rows["same_story"]["kept_share"] == pytest.approx(rows["same_story"]["model"]["recall"])
    neg = rows["neg_other"]
    assert neg["one_class"] and math.isnan(neg["model"]["precision"])  # 0 by construction
    lo, hi = neg["ci95"]["kept_share"]
    assert lo <= neg["kept_share"] <= hi
    assert neg["kept_share"] == pytest.approx(neg["model"]["fp"] / neg["n_items"])


def test_slices_by_meta_feed_field_and_forced_item_level(setup):
    result, _ = _run(setup, meta=setup["meta"], slice_by="anchor.category")
    sl = result.levels["story"].metrics["slices"]["anchor.category"]
    assert sl["source"] == "feed" and sl["feed_level"] is True
    assert len(sl["rows"]) == len(TOPICS) + 1  # feed 0's category is the odd one out
    frame = read_inputs([setup["data"]])
    meta = {r["feed_id"]: r for r in _meta(_eval_feeds())}
    values, level = slice_values(frame, "items.relation", meta)
    assert level == "item" and set(values) == {"same_story", "neg_other", MISSING}
    with pytest.raises(InputError):
        slice_values(frame, "no_such_field", meta)
    with pytest.raises(InputError):
        slice_values(frame, "relation", None)


def test_error_tables_name_the_best_matching_sentence(setup):
    result, _ = _run(setup)
    errors = result.levels["story"].metrics["errors"]
    t = result.levels["story"].metrics["threshold"]
    assert errors["false_positives"] and errors["false_negatives"]
    assert all(e["label"] == 0 and e["probability"] >= t for e in errors["false_positives"])
    assert all(e["label"] == 1 and e["probability"] < t for e in errors["false_negatives"])
    probs = [e["probability"] for e in errors["false_positives"]]
    assert probs == sorted(probs, reverse=True)
    feeds = {f["feed_id"]: f for f in _eval_feeds()}
    for e in errors["false_positives"] + errors["false_negatives"]:
        assert e["best_sentence"] and e["best_sentence"] in feeds[e["feed_id"]]["article"]["body"]
        assert e["article_title"] and e["item_title"]


def test_markdown_has_summary_table_and_escapes_cells(setup):
    result, _ = _run(setup, meta=setup["meta"], slice_by="anchor.category")
    md = render_markdown(result)
    ap = result.levels["story"].metrics["systems"]["model"]["average_precision"]
    assert "## Summary, story level (the same story)" in md
    assert "## The levels side by side" in md
    assert "| metric | relevance model | cosine, the model's embedder (" in md
    assert "| TF-IDF cosine |" in md
    assert f"| average precision | {ap:.3f} [" in md
    for title in (
        "Confusion counts, story level",
        "Threshold analysis, story level",
        "Slices by anchor.category, story level",
        "Slices by article_length, story level",
        "Worst false positives, story level",
        "Worst false negatives, story level",
    ):
        assert f"## {title}" in md


def test_html_is_self_contained_and_escaped(setup):
    result, _ = _run(setup, meta=setup["meta"], slice_by="anchor.category")
    html = render_html(result)
    assert "<script" not in html and "&lt;script&gt;" in html  # autoescape on
    sources = re.findall(r'(?:src|href)="([^"#][^"]*)"', html)
    assert sources and all(s.startswith("data:") for s in sources)
    assert len(re.findall(r'<img src="data:image/png;base64,', html)) == 5
    assert "http://" not in html and "https://" not in html


def test_cli_evaluate_flags_in_sample_data(tmp_path, monkeypatch, feeds_jsonl):
    """Through ``relevance evaluate``; the fake embedder stands in for the real one."""
    import relevance.persistence.artifacts
    from relevance.cli import main
    from relevance.train.pipeline import train

    train([feeds_jsonl], tmp_path / "m", embedder=FakeEmbedder(), n_splits=3)
    real = relevance.persistence.artifacts.load_model
    monkeypatch.setattr(
        relevance.persistence.artifacts,
        "load_model",
        lambda d, embedder=None, **kw: real(d, FakeEmbedder(), **kw),
    )
    out = tmp_path / "report"
    argv = ["evaluate", str(feeds_jsonl), "--model", str(tmp_path / "m"), "--out", str(out)]
    assert main([*argv, "--bootstrap", "50", "--compare", str(tmp_path / "m")]) == 0
    doc = json.loads((out / "metrics.json").read_text())
    assert doc["models"]["model"]["in_sample"] is True
    assert doc["bootstrap"]["n_resamples"] == 50
    assert doc["levels"]["story"]["systems"]["compare"]["delta_average_precision"]["delta"] == 0
    assert "In-sample" in (out / "report.md").read_text()
    assert main([*argv, "--slice-by", "relation"]) == 2  # no such column and no --meta


def test_nan_metrics_render_as_dashes(setup):
    """A slice with one class has no AP or AUC: null in JSON, a dash in the tables."""
    result, _ = _run(setup, meta=setup["meta"], slice_by="relation")
    rows = result.levels["story"].metrics["slices"]["relation"]["rows"]
    row = next(r for r in rows if r["value"] == "neg_other")
    assert math.isnan(row["model"]["average_precision"])
    rows = json.loads(result.to_json())["levels"]["story"]["slices"]["relation"]["rows"]
    assert rows[1]["model"]["roc_auc"] is None
    assert "| neg_other |" in render_markdown(result)


def test_chunked_embedding_gives_the_same_scores(setup, monkeypatch):
    """The progress bar chunks encode(); results must not depend on it."""
    import relevance.eval.evaluation as ev_mod

    whole = _run(setup)[0]
    monkeypatch.setattr(ev_mod._Progressive, "CHUNK", 50)
    embedder = FakeEmbedder()
    model = load_model(setup["model"], embedder=embedder, cache=False)
    chunked = evaluate(read_inputs([setup["data"]]), model, n_resamples=N_BOOT)
    assert embedder.calls > 1
    np.testing.assert_allclose(
        chunked.levels["story"].scores["model"], whole.levels["story"].scores["model"], atol=1e-12
    )
    assert chunked.to_json() == whole.to_json()


def test_graded_data_is_measured_at_both_levels_side_by_side(tmp_path, fitted_graded_model):
    model, _ = fitted_graded_model
    feeds = make_feeds(n_feeds=12, seed=31, graded=True)
    path = tmp_path / "graded.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in feeds), encoding="utf-8")
    frame = read_inputs([path])
    result = evaluate(frame, model, n_resamples=N_BOOT)
    doc = json.loads(result.to_json())
    assert set(doc["levels"]) == {"story", "topic"} and doc["level"] == "topic"
    grade = frame["grade"].to_numpy()
    assert (result.levels["topic"].y == (grade >= 1)).all()
    assert (result.levels["story"].y == (grade == 2)).all()
    for level in ("story", "topic"):
        m = doc["levels"][level]["systems"]["model"]
        assert m["threshold"] == model.thresholds_[level]
        assert 0 < m["graded_ndcg@5"] <= 1 and "graded_ndcg@5" in m["ci95"]
        assert {"f1", "ece", "average_precision"} <= set(m)
        assert set(doc["levels"][level]["deltas"]) == {"cosine", "tfidf"}
    assert doc["data"]["grades"] == {str(g): int((grade == g).sum()) for g in (0, 1, 2)}
    md = render_markdown(result)
    assert "| metric | story: relevance model |" in md and "topic: TF-IDF cosine" in md
    assert "## Summary, topic level (story or related)" in md
    with pytest.raises(ValueError, match="no topic labels|only the story level"):
        evaluate(frame.drop(columns=["grade"]), model, level="topic", n_resamples=10)


def test_graded_ndcg_by_hand():
    from relevance.eval.measures import graded_ndcg_per_feed

    gain = np.array([1, 2, 0, 0])
    score = np.array([0.9, 0.8, 0.1, 0.2])
    feed = np.array(["a", "a", "a", "a"])
    got = graded_ndcg_per_feed(gain, score, feed, 5)
    dcg = (2**1 - 1) / np.log2(2) + (2**2 - 1) / np.log2(3)
    ideal = (2**2 - 1) / np.log2(2) + (2**1 - 1) / np.log2(3)
    assert got[0] == pytest.approx(dcg / ideal)
    assert np.isnan(graded_ndcg_per_feed(np.zeros(3), np.ones(3), np.array(["b"] * 3), 5))[0]
