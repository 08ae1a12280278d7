"""The stacked similarities equal a plain per-feed computation, whatever the feed sizes."""

import numpy as np
import pytest

from relevance.embed.encoder import FeedEmbeddings
from relevance.model import similarity
from relevance.model.similarity import LEAD_SENTENCES, SIMILARITIES, SUPPORT


def _unit(rng, n, d=16):
    x = rng.normal(size=(n, d)).astype(np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def _embeddings(rng, items, segs, wins) -> FeedEmbeddings:
    """Feeds with the given counts, rows of all feeds shuffled together."""
    n_feeds = len(items)
    item_feed = rng.permutation(np.repeat(np.arange(n_feeds), items))
    return FeedEmbeddings(
        item_feed=item_feed,
        article=_unit(rng, n_feeds),
        title=_unit(rng, n_feeds),
        segments=_unit(rng, sum(segs)),
        segment_feed=np.repeat(np.arange(n_feeds), segs),
        items=_unit(rng, len(item_feed)),
        windows=_unit(rng, sum(wins)),
        window_feed=np.repeat(np.arange(n_feeds), wins),
        article_sentences=[[] for _ in range(n_feeds)],
        texts=None,  # type: ignore[arg-type]
    )


def _reference(emb: FeedEmbeddings) -> dict[str, np.ndarray]:
    """One feed at a time, each quantity as its definition says."""
    out = {name: np.zeros(len(emb.item_feed)) for name in (*SIMILARITIES, *SUPPORT)}
    for f in range(len(emb.article)):
        rows = np.flatnonzero(emb.item_feed == f)
        items = emb.items[rows]
        segs = emb.segments[emb.segment_feed == f]
        wins = emb.windows[emb.window_feed == f]
        whole = items @ emb.article[f]
        out["cos_article"][rows] = whole
        out["cos_title"][rows] = items @ emb.title[f]
        sims = items @ segs.T if len(segs) else whole[:, None]
        ranked = -np.sort(-sims, axis=1)
        out["cos_best_sentence"][rows] = ranked[:, 0]
        out["cos_top3_sentences"][rows] = ranked[:, :3].mean(axis=1)
        out["cos_lead_sentence"][rows] = sims[:, :LEAD_SENTENCES].max(axis=1)
        by_window = items @ wins.T if len(wins) else whole[:, None]
        out["cos_lead"][rows] = by_window[:, 0]
        out["cos_best_window"][rows] = by_window.max(axis=1)
        if len(rows) < 2:
            continue
        pair = items.astype(np.float64) @ items.T.astype(np.float64)
        w = np.exp(10.0 * (whole - whole.max())).astype(np.float64)
        order = np.argsort(-whole, kind="stable")
        for i, row in enumerate(rows):
            others = np.arange(len(rows)) != i
            out["neighbour_support"][row] = (pair[i] * w)[others].sum() / w[others].sum()
            top = [j for j in order if j != i][:3]
            out["neighbour_support_top3"][row] = pair[i, top].mean()
    return out


@pytest.mark.parametrize("seed", range(6))
def test_stacked_equals_per_feed(seed):
    rng = np.random.default_rng(seed)
    n_feeds = 30
    items = rng.choice([1, 2, 3, 4, 20], size=n_feeds)  # several feeds of each size
    segs = rng.integers(0, 9, size=n_feeds)  # no sentence, fewer than 3, many
    wins = rng.integers(0, 4, size=n_feeds)
    emb = _embeddings(rng, items, segs, wins)
    got, want = similarity.embedding_similarities(emb), _reference(emb)
    for name in (*SIMILARITIES, *SUPPORT):
        np.testing.assert_allclose(got[name], want[name], atol=2e-6, err_msg=name)


def test_small_chunks_give_the_same_figures(monkeypatch):
    """Feeds cut into many stacks (a tight product budget) change nothing."""
    rng = np.random.default_rng(7)
    emb = _embeddings(rng, [5] * 12 + [2] * 5, list(range(17)), [1] * 17)
    whole = similarity.embedding_similarities(emb)
    monkeypatch.setattr(similarity, "_MAX_PRODUCTS", 50)
    cut = similarity.embedding_similarities(emb)
    for name in whole:
        np.testing.assert_allclose(cut[name], whole[name], atol=1e-6, err_msg=name)


def test_a_big_feed_goes_alone_with_the_same_figures(monkeypatch):
    rng = np.random.default_rng(3)
    emb = _embeddings(rng, [40, 3, 40], [5, 2, 0], [2, 1, 1])
    want = _reference(emb)
    monkeypatch.setattr(similarity, "LARGE_FEED", 10)
    got = similarity.embedding_similarities(emb)
    for name in want:
        np.testing.assert_allclose(got[name], want[name], atol=2e-6, err_msg=name)
