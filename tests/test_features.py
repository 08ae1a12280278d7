import numpy as np
import pytest
from fakes import FakeEmbedder, feeds_frame

from relevance.embed.encoder import embed_feeds
from relevance.model.features import FEATURE_NAMES, _group_stats
from relevance.model.features import compute_features as _compute
from relevance.model.names import NAME_FEATURES
from relevance.model.rank import rank_within_feed


def compute_features(emb, lexical):
    """The features with no name evidence (the fake texts have no names)."""
    n = len(emb.item_feed)
    return _compute(emb, lexical, {name: np.zeros(n) for name in NAME_FEATURES})


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


def _long_article_feed(body: str):
    import pandas as pd

    items = {
        "election": "Vote ballot election candidate parliament campaign poll count.",
        "market": "Stocks shares investors market index trading earnings dividend.",
        "football": "Match goal league striker coach stadium season cup fans.",
        "vaccine": "Vaccine virus outbreak health doses hospital clinic infection.",
    }
    return pd.DataFrame(
        {
            "feed_id": "long",
            "article_title": "Rain and rivers",
            "article_body": body,
            "item_id": list(items),
            "item_title": "",
            "item_summary": list(items.values()),
        }
    )


def test_every_window_of_a_long_article_counts(fitted_fake_model):
    """The election story is only in the article's last windows: it must still win.

    With the article cut to its first window (all rain and rivers) the election item has
    nothing to match, so a model that looked at the first window only would score it as it
    scores the cut article: the two assertions on ``full`` would fail.
    """
    model, _ = fitted_fake_model
    flood = " ".join(["River flood rain water levee evacuation storm dam rescue."] * 12)
    election = " ".join(["Vote ballot election candidate parliament campaign count."] * 3)
    full = _long_article_feed(f"{flood} {election}")
    emb = embed_feeds(full, model.embedder_)
    assert len(emb.windows) >= 4  # the fake encoder reads 32 tokens at a time
    first = embed_feeds(full, model.embedder_).article_sentences[0]
    cut = _long_article_feed(" ".join(first[1:4]))  # what the first window holds
    assert len(embed_feeds(cut, model.embedder_).windows) == 1
    scored_full = model.score_frame(full).set_index("item_id")
    scored_cut = model.score_frame(cut).set_index("item_id")
    assert scored_full.loc["election", "rank"] == 1
    assert scored_full.loc["election", "p_story"] > scored_cut.loc["election", "p_story"] + 0.1
    X = compute_features(emb, np.zeros(len(full)))
    col = {n: X[:, i] for i, n in enumerate(FEATURE_NAMES)}
    i = list(full["item_id"]).index("election")
    assert col["cos_best_window"][i] > col["cos_lead"][i] + 0.3  # a later window matched
    assert col["cos_best_sentence"][i] == col["cos_best_sentence"].max()


def test_lead_features_read_the_first_window_and_sentences():
    frame = _long_article_feed(
        "Vote ballot election candidate. " + " ".join(["Stocks shares market index."] * 30)
    )
    emb = embed_feeds(frame, FakeEmbedder())
    X = compute_features(emb, np.zeros(len(frame)))
    col = {n: X[:, i] for i, n in enumerate(FEATURE_NAMES)}
    election, market = 0, 1
    assert col["cos_lead_sentence"][election] > col["cos_lead_sentence"][market]
    assert col["cos_article"][market] > col["cos_article"][election]  # the bulk is markets
