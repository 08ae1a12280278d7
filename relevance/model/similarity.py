"""Embedding similarities of each item with its own feed's article, from arrays only.

A long article is many passages, and an item may match any one of them: the whole
article (the mean of its windows), its lead (the first window, where news puts
who, what and where), its best window and its best sentences all count. Every
window and every sentence takes part, so nothing after the first window is lost.
"""

from __future__ import annotations

import numpy as np

from relevance.embed.encoder import FeedEmbeddings

SIMILARITIES = (
    "cos_article",
    "cos_title",
    "cos_lead",
    "cos_best_window",
    "cos_best_sentence",
    "cos_top3_sentences",
    "cos_lead_sentence",
)
SUPPORT = ("neighbour_support", "neighbour_support_top3")
#: Sentences that make the lead, counted from the start of the article text (its title first).
LEAD_SENTENCES = 3

_SUPPORT_TEMPERATURE = 10.0
#: Above this many items a feed's item-by-item matrix is never built (a 10,000-item feed
#: would need ~1 GB for it); the same quantities are computed from sums instead.
LARGE_FEED = 1000
#: Item-by-sentence products computed at most this many at once (long articles, big feeds).
_MAX_PRODUCTS = 20_000_000


def _sentence_stats(items: np.ndarray, segs: np.ndarray) -> tuple[np.ndarray, ...]:
    """Each item's best sentence, mean of its best three, best of the lead, in row blocks."""
    step = max(1, _MAX_PRODUCTS // max(len(segs), 1))
    best, top3, lead = [], [], []
    k = min(3, len(segs))
    for i in range(0, len(items), step):
        sims = items[i : i + step] @ segs.T
        best.append(sims.max(axis=1))
        top3.append(-np.partition(-sims, k - 1, axis=1)[:, :k].mean(axis=1))
        lead.append(sims[:, :LEAD_SENTENCES].max(axis=1))
    return np.concatenate(best), np.concatenate(top3), np.concatenate(lead)


def _support_large(items: np.ndarray, to_article: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Neighbour support of a big feed in O(items x dim) memory.

    The same weighted mean of cosines to the other items as the matrix code (equal up
    to float rounding): sum_j!=i w_j <x_i, x_j> = <x_i, sum_j w_j x_j> - w_i |x_i|^2.
    """
    x = items.astype(np.float64)
    w = np.exp(_SUPPORT_TEMPERATURE * (to_article - to_article.max())).astype(np.float64)
    support = (x @ (x.T @ w) - np.einsum("ij,ij->i", x, x) * w) / (w.sum() - w)
    top = _top_neighbours(to_article)
    k = top.shape[1]
    support3 = sum(np.einsum("ij,ij->i", x, x[top[:, c]]) for c in range(k)) / k
    return support, support3


def _top_neighbours(to_article: np.ndarray) -> np.ndarray:
    """(items, k) indices of each item's k <= 3 closest-to-article other items, in rank order."""
    k = min(3, len(to_article) - 1)
    head = np.argsort(-to_article, kind="stable")[: k + 1]
    top = np.tile(head[:k], (len(to_article), 1))
    top[head[:k]] = head[_OTHERS[k]]  # a top item's neighbours are the others of the top
    return top


#: _OTHERS[k][pos]: positions 0..k without pos, first k of them (k = 0..3).
_OTHERS = [
    np.array(
        [[j for j in range(k + 1) if j != pos][:k] for pos in range(k)], dtype=np.intp
    ).reshape(k, k)
    for k in range(4)
]


def _support(items: np.ndarray, to_article: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How close each item is to the items closest to the article (the feed's consensus)."""
    if len(items) > LARGE_FEED:
        return _support_large(items, to_article)
    pair = items @ items.T
    weights = np.exp(_SUPPORT_TEMPERATURE * (to_article - to_article.max()))
    weights = np.broadcast_to(weights, pair.shape).copy()
    np.fill_diagonal(weights, 0.0)
    support = (pair * weights).sum(axis=1) / weights.sum(axis=1)
    top = _top_neighbours(to_article)
    # row sums of k <= 3 values add left to right, exactly as a per-row mean() would
    support3 = pair[np.arange(len(items))[:, None], top].sum(axis=1) / top.shape[1]
    return support, support3


def _bounds(feed: np.ndarray, n_feeds: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(feed, kind="stable")
    return order, np.searchsorted(feed[order], np.arange(n_feeds + 1))


def embedding_similarities(emb: FeedEmbeddings) -> dict[str, np.ndarray]:
    """Every name of SIMILARITIES and SUPPORT -> one float64 per item."""
    n, n_feeds = len(emb.item_feed), len(emb.article)
    feed = emb.item_feed
    out = {name: np.zeros(n) for name in (*SIMILARITIES, *SUPPORT)}
    out["cos_article"] = np.einsum("ij,ij->i", emb.items, emb.article[feed]).astype(np.float64)
    out["cos_title"] = np.einsum("ij,ij->i", emb.items, emb.title[feed]).astype(np.float64)
    item_order, item_bounds = _bounds(feed, n_feeds)
    seg_order, seg_bounds = _bounds(emb.segment_feed, n_feeds)
    win_order, win_bounds = _bounds(emb.window_feed, n_feeds)
    for f in range(n_feeds):
        rows = item_order[item_bounds[f] : item_bounds[f + 1]]
        if not len(rows):
            continue
        items = emb.items[rows]
        segs = emb.segments[seg_order[seg_bounds[f] : seg_bounds[f + 1]]]
        wins = emb.windows[win_order[win_bounds[f] : win_bounds[f + 1]]]
        whole = items @ emb.article[f]
        if len(segs):
            best, top3, lead = _sentence_stats(items, segs)
        else:
            best = top3 = lead = whole
        out["cos_best_sentence"][rows] = best
        out["cos_top3_sentences"][rows] = top3
        out["cos_lead_sentence"][rows] = lead
        if len(wins):
            by_window = items @ wins.T
            out["cos_lead"][rows] = by_window[:, 0]
            out["cos_best_window"][rows] = by_window.max(axis=1)
        else:
            out["cos_lead"][rows] = out["cos_best_window"][rows] = whole
        if len(rows) >= 2:
            support, support3 = _support(items, whole)
            out["neighbour_support"][rows] = support
            out["neighbour_support_top3"][rows] = support3
    return out
