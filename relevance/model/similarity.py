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


def _bounds(feed: np.ndarray, n_feeds: int) -> tuple[np.ndarray, np.ndarray]:
    order = np.argsort(feed, kind="stable")
    return order, np.searchsorted(feed[order], np.arange(n_feeds + 1))


def embedding_similarities(emb: FeedEmbeddings) -> dict[str, np.ndarray]:
    """Every name of SIMILARITIES and SUPPORT -> one float64 per item.

    Feeds of the same size are computed together, stacked (padded sentences and
    windows masked out), so a table of many small feeds costs a few array operations
    per feed size, not several per feed; a feed over LARGE_FEED items goes alone.
    """
    n, n_feeds = len(emb.item_feed), len(emb.article)
    out = {name: np.zeros(n) for name in (*SIMILARITIES, *SUPPORT)}
    parts = _Parts(emb, n_feeds)
    sizes = np.diff(parts.item_bounds)
    for size in np.unique(sizes[sizes > 0]):
        feeds = np.flatnonzero(sizes == size)
        if size > LARGE_FEED:
            for f in feeds:
                _one_feed(emb, parts, int(f), out)
            continue
        # fewest padded columns: feeds with as many sentences side by side
        feeds = feeds[np.argsort(parts.n_segs[feeds], kind="stable")]
        for chunk in _chunks(feeds, int(size), parts):
            _stacked(emb, parts, chunk, int(size), out)
    return out


class _Parts:
    """Where each feed's items, sentences and windows are, in feed order."""

    def __init__(self, emb: FeedEmbeddings, n_feeds: int) -> None:
        self.item_order, self.item_bounds = _bounds(emb.item_feed, n_feeds)
        self.seg_order, self.seg_bounds = _bounds(emb.segment_feed, n_feeds)
        self.win_order, self.win_bounds = _bounds(emb.window_feed, n_feeds)
        self.n_segs = np.diff(self.seg_bounds)
        self.n_wins = np.diff(self.win_bounds)


def _chunks(feeds: np.ndarray, size: int, parts: _Parts) -> list[np.ndarray]:
    """Runs of feeds whose stacked products stay under _MAX_PRODUCTS."""
    out, start, widest = [], 0, 1
    wide = np.maximum(parts.n_segs[feeds], parts.n_wins[feeds])
    for end in range(len(feeds)):
        widest = max(widest, int(wide[end]))
        if end > start and (end - start + 1) * size * max(widest, size) > _MAX_PRODUCTS:
            out.append(feeds[start:end])
            start, widest = end, max(1, int(wide[end]))
    out.append(feeds[start:])
    return out


def _products(
    items: np.ndarray,
    vectors: np.ndarray,
    order: np.ndarray,
    bounds: np.ndarray,
    counts: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Each feed's items against its own sentences (or windows), for the feeds that have any.

    Returns the (feeds with some, size, widest) products, padded columns at -inf, and the
    mask of those feeds.
    """
    has = counts > 0
    width = int(counts.max()) if len(counts) else 0
    valid = np.arange(width)[None, :] < counts[has][:, None]
    stacked = np.zeros((int(has.sum()), width, vectors.shape[1]), dtype=vectors.dtype)
    stacked[valid] = vectors[order[(bounds[has][:, None] + np.arange(width))[valid]]]
    sims = np.matmul(items[has], stacked.transpose(0, 2, 1))
    sims[~np.broadcast_to(valid[:, None, :], sims.shape)] = -np.inf
    return sims, has


def _stacked(emb: FeedEmbeddings, parts: _Parts, feeds: np.ndarray, size: int, out: dict) -> None:
    """The per-feed quantities of ``_one_feed`` for feeds of ``size`` items at once."""
    rows = parts.item_order[parts.item_bounds[feeds][:, None] + np.arange(size)]
    items = emb.items[rows]  # (F, size, d)
    whole = np.matmul(items, emb.article[feeds][:, :, None])[:, :, 0]
    out["cos_article"][rows] = whole
    out["cos_title"][rows] = np.matmul(items, emb.title[feeds][:, :, None])[:, :, 0]
    best, top3, lead = whole.copy(), whole.copy(), whole.copy()
    n_segs = parts.n_segs[feeds]
    sims, has = _products(items, emb.segments, parts.seg_order, parts.seg_bounds[feeds], n_segs)
    if has.any():
        best[has] = sims.max(axis=2)
        k = min(3, sims.shape[2])
        top = -np.sort(np.partition(-sims, k - 1, axis=2)[:, :, :k], axis=2)
        n_top = np.minimum(n_segs[has], 3)
        top = np.where(np.arange(k)[None, None, :] < n_top[:, None, None], top, 0.0)
        top3[has] = top.sum(axis=2) / n_top[:, None]
        lead[has] = sims[:, :, :LEAD_SENTENCES].max(axis=2)
    out["cos_best_sentence"][rows] = best
    out["cos_top3_sentences"][rows] = top3
    out["cos_lead_sentence"][rows] = lead
    first, best_window = whole.copy(), whole.copy()
    by_window, has = _products(
        items, emb.windows, parts.win_order, parts.win_bounds[feeds], parts.n_wins[feeds]
    )
    if has.any():
        first[has] = by_window[:, :, 0]
        best_window[has] = by_window.max(axis=2)
    out["cos_lead"][rows] = first
    out["cos_best_window"][rows] = best_window
    if size >= 2:
        support, support3 = _stacked_support(items, whole)
        out["neighbour_support"][rows] = support
        out["neighbour_support_top3"][rows] = support3


def _stacked_support(items: np.ndarray, whole: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """How close each item is to the items closest to the article (the feed's consensus),
    for (F, size, d) feeds at once; ``_support_large`` is the same for one big feed."""
    n_feeds, size = whole.shape
    pair = np.matmul(items, items.transpose(0, 2, 1))
    weights = np.exp(_SUPPORT_TEMPERATURE * (whole - whole.max(axis=1, keepdims=True)))
    weights = np.broadcast_to(weights[:, None, :], pair.shape).copy()
    weights[:, np.arange(size), np.arange(size)] = 0.0
    support = (pair * weights).sum(axis=2) / weights.sum(axis=2)
    k = min(3, size - 1)
    head = np.argsort(-whole, axis=1, kind="stable")[:, : k + 1]
    top = np.broadcast_to(head[:, None, :k], (n_feeds, size, k)).copy()
    top[np.arange(n_feeds)[:, None], head[:, :k]] = head[:, _OTHERS[k]]
    picked = np.take_along_axis(pair, top, axis=2)
    return support, picked.sum(axis=2) / k


def _one_feed(emb: FeedEmbeddings, parts: _Parts, f: int, out: dict) -> None:
    """One big feed, its items in row blocks (no (items, items) matrix)."""
    rows = parts.item_order[parts.item_bounds[f] : parts.item_bounds[f + 1]]
    items = emb.items[rows]
    segs = emb.segments[parts.seg_order[parts.seg_bounds[f] : parts.seg_bounds[f + 1]]]
    wins = emb.windows[parts.win_order[parts.win_bounds[f] : parts.win_bounds[f + 1]]]
    whole = items @ emb.article[f]
    out["cos_article"][rows] = whole
    out["cos_title"][rows] = items @ emb.title[f]
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
    support, support3 = _support_large(items, whole)
    out["neighbour_support"][rows] = support
    out["neighbour_support_top3"][rows] = support3
