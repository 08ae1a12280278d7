import numpy as np
import pytest
from fakes import FakeEmbedder, feeds_frame

from relevance.embed.encoder import embed_feeds
from relevance.model.features import FEATURE_NAMES, _group_stats, compute_features
from relevance.model.rank import rank_within_feed


def test_group_stats_by_hand():
    values = np.array([0.1, 0.5, 0.3, 2.0, 1.0])
    group = np.array([0, 0, 0, 1, 1])
    s = _group_stats(values, group, 2)
    np.testing.assert_allclose(s["mean"], [0.3, 0.3, 0.3, 1.5, 1.5])
    np.testing.assert_allclose(s["max"], [0.5, 0.5, 0.5, 2.0, 2.0])
    np.testing.assert_allclose(s["median"], [0.3, 0.3, 0.3, 1.5, 1.5])
    np.testing.assert_allclose(s["rank_frac"], [1.0, 0.0, 0.5, 0.0, 1.0])


def test_features_shape_and_meaning():
    frame = feeds_frame(n_feeds=6, n_items=6)
    emb = embed_feeds(frame, FakeEmbedder())
    X = compute_features(emb, np.zeros(len(frame)))
    assert X.shape == (len(frame), len(FEATURE_NAMES))
    assert np.isfinite(X).all()
    col = {n: X[:, i] for i, n in enumerate(FEATURE_NAMES)}
    y = frame["label"].to_numpy()
    # on-topic items are closer to their article than off-topic ones, on every measure
    for name in ("cos_article", "cos_best_sentence", "cos_article_z", "neighbour_support"):
        assert col[name][y == 1].mean() > col[name][y == 0].mean(), name
    assert (col["cos_article_minus_max"] <= 1e-9).all()
    assert ((col["cos_article_rank"] >= 0) & (col["cos_article_rank"] <= 1)).all()


def test_features_do_not_depend_on_other_feeds():
    frame = feeds_frame(n_feeds=6, n_items=6)
    emb_all = embed_feeds(frame, FakeEmbedder())
    X_all = compute_features(emb_all, np.zeros(len(frame)))
    one = frame[frame.feed_id == frame.feed_id.iloc[0]].reset_index(drop=True)
    X_one = compute_features(embed_feeds(one, FakeEmbedder()), np.zeros(len(one)))
    np.testing.assert_allclose(X_one, X_all[: len(one)], atol=1e-5)


def test_identical_texts_are_embedded_once():
    frame = feeds_frame(n_feeds=4, n_items=5)
    twice = frame.copy()
    twice["feed_id"] = twice["feed_id"] + "-copy"
    import pandas as pd

    emb = FakeEmbedder()
    embed_feeds(pd.concat([frame, twice], ignore_index=True), emb)
    alone = FakeEmbedder()
    embed_feeds(frame, alone)
    assert emb.calls == 1
    assert emb.texts_encoded == alone.texts_encoded


def test_long_article_is_windowed_not_truncated():
    frame = feeds_frame(n_feeds=1, n_items=3)
    frame["article_body"] = " ".join(["Storm flood river rescue."] * 60 + ["Final goal stadium."])
    emb = embed_feeds(frame, FakeEmbedder())  # fake max_tokens is 32
    sentences = emb.article_sentences[0]
    assert sentences[-1] == "Final goal stadium."
    assert len(emb.segments) == len(sentences)


@pytest.mark.parametrize(
    "score,feed,expected",
    [
        ([0.2, 0.9, 0.5], [0, 0, 0], [3, 1, 2]),
        ([0.5, 0.5, 0.1, 0.7], [0, 0, 1, 1], [1, 2, 2, 1]),
    ],
)
def test_rank_within_feed(score, feed, expected):
    assert rank_within_feed(np.array(score), np.array(feed)).tolist() == expected


def test_group_medians_are_np_median_bit_for_bit():
    rng = np.random.default_rng(0)
    for trial in range(50):
        n, n_groups = int(rng.integers(1, 60)), int(rng.integers(1, 12))
        pool = [0.0, -0.0, 0.5, -0.25, np.nan, 0.3] if trial % 2 else None
        values = rng.choice(pool, n) if pool else rng.normal(size=n)
        group = rng.integers(0, n_groups, n)
        got = _group_stats(values, group, n_groups)["median"]
        want = [np.median(values[group == g]) if (group == g).any() else 0.0 for g in group]
        assert got.tobytes() == np.asarray(want, dtype=np.float64).tobytes()


def test_top3_support_matches_the_per_item_mean():
    frame = feeds_frame(n_feeds=4, n_items=7)
    emb = embed_feeds(frame, FakeEmbedder())
    X = compute_features(emb, np.zeros(len(frame)))
    got = X[:, FEATURE_NAMES.index("neighbour_support_top3")]
    for f in range(len(emb.article)):
        rows = np.flatnonzero(emb.item_feed == f)
        items = emb.items[rows]
        pair, ranked = items @ items.T, np.argsort(-(items @ emb.article[f]), kind="stable")
        for i, row in enumerate(rows):
            top = [j for j in ranked if j != i][:3]
            assert got[row] == pair[i, top].mean()
