"""Per (article, item) features, from arrays only.

Absolute cosines drift between articles (a long article is "close" to more
things), so each raw similarity also appears relative to its own feed: the
items of one feed compete for the article's attention.
"""

from __future__ import annotations

import numpy as np

from relevance.embed.encoder import FeedEmbeddings

FEATURE_NAMES = [
    "cos_article",
    "cos_best_sentence",
    "cos_title",
    "tfidf",
    "cos_article_z",
    "cos_article_rank",
    "cos_article_minus_max",
    "cos_article_minus_median",
    "best_sentence_minus_median",
    "tfidf_z",
    "neighbour_support",
    "neighbour_support_top3",
]

_SUPPORT_TEMPERATURE = 10.0


def _group_stats(values: np.ndarray, group: np.ndarray, n_groups: int) -> dict[str, np.ndarray]:
    """Per-row mean, std, max, median and descending rank fraction within the row's group."""
    count = np.bincount(group, minlength=n_groups).astype(np.float64)
    mean = np.bincount(group, weights=values, minlength=n_groups) / np.maximum(count, 1)
    sq = np.bincount(group, weights=values**2, minlength=n_groups) / np.maximum(count, 1)
    std = np.sqrt(np.maximum(sq - mean**2, 0.0))
    order = np.lexsort((-values, group))
    sorted_vals = values[order]
    sorted_grp = group[order]
    starts = np.searchsorted(sorted_grp, np.arange(n_groups))
    gmax = np.full(n_groups, -np.inf)
    nonempty = count > 0
    gmax[nonempty] = sorted_vals[starts[nonempty]]
    gmed = _sorted_medians(sorted_vals, starts, count.astype(np.int64))
    # NaN and -0.0 depend on np.median's own partitioning: leave those groups to it
    odd = np.isnan(values) | ((values == 0) & np.signbit(values))
    for g in np.flatnonzero(np.bincount(group, weights=odd, minlength=n_groups)):
        gmed[g] = np.median(sorted_vals[starts[g] : starts[g] + int(count[g])])
    rank = np.empty(len(values))
    rank[order] = np.arange(len(values)) - starts[sorted_grp]
    return {
        "mean": mean[group],
        "std": std[group],
        "max": gmax[group],
        "median": gmed[group],
        "rank_frac": rank / np.maximum(count[group] - 1, 1),
    }


def _sorted_medians(sorted_vals: np.ndarray, starts: np.ndarray, count: np.ndarray) -> np.ndarray:
    """Medians of sorted segments without a per-group np.median call (0 for empty ones).

    The same floats as np.median: the middle value, or the two middle ones added
    (commutative, so either order) and halved, as its mean() does.
    """
    gmed = np.zeros(len(starts))
    nonempty = count > 0
    lo = starts[nonempty] + (count[nonempty] - 1) // 2
    hi = starts[nonempty] + count[nonempty] // 2
    odd = (count[nonempty] % 2) == 1
    pairs = (sorted_vals[lo] + sorted_vals[hi]) / 2
    gmed[nonempty] = np.where(odd, sorted_vals[lo], pairs)
    return gmed


#: Above this many items a feed's item-by-item matrix is never built (a 10,000-item feed
#: would need ~1 GB for it); the same quantities are computed from sums instead.
LARGE_FEED = 1000
#: Item-by-sentence products computed at most this many at once (long articles, big feeds).
_MAX_PRODUCTS = 20_000_000


def _best_sentence(items: np.ndarray, segs: np.ndarray) -> np.ndarray:
    """Each item's best cosine with a sentence, in row blocks when the product is huge."""
    if len(items) * len(segs) <= _MAX_PRODUCTS:
        return (items @ segs.T).max(axis=1)
    step = max(1, _MAX_PRODUCTS // len(segs))
    return np.concatenate(
        [(items[i : i + step] @ segs.T).max(axis=1) for i in range(0, len(items), step)]
    )


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


def _per_feed_similarities(emb: FeedEmbeddings) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Best-sentence cosine and neighbour support, which need each feed's own matrix."""
    n = len(emb.item_feed)
    best = np.empty(n)
    support = np.zeros(n)
    support3 = np.zeros(n)
    item_order = np.argsort(emb.item_feed, kind="stable")
    item_bounds = np.searchsorted(emb.item_feed[item_order], np.arange(len(emb.article) + 1))
    seg_order = np.argsort(emb.segment_feed, kind="stable")
    seg_bounds = np.searchsorted(emb.segment_feed[seg_order], np.arange(len(emb.article) + 1))
    for f in range(len(emb.article)):
        rows = item_order[item_bounds[f] : item_bounds[f + 1]]
        if not len(rows):
            continue
        items = emb.items[rows]
        segs = emb.segments[seg_order[seg_bounds[f] : seg_bounds[f + 1]]]
        best[rows] = _best_sentence(items, segs) if len(segs) else items @ emb.article[f]
        if len(rows) < 2:
            continue
        to_article = items @ emb.article[f]
        if len(rows) > LARGE_FEED:
            support[rows], support3[rows] = _support_large(items, to_article)
            continue
        pair = items @ items.T
        weights = np.exp(_SUPPORT_TEMPERATURE * (to_article - to_article.max()))
        weights = np.broadcast_to(weights, pair.shape).copy()
        np.fill_diagonal(weights, 0.0)
        support[rows] = (pair * weights).sum(axis=1) / weights.sum(axis=1)
        top = _top_neighbours(to_article)
        # row sums of k <= 3 values add left to right, exactly as a per-row mean() would
        support3[rows] = pair[np.arange(len(rows))[:, None], top].sum(axis=1) / top.shape[1]
    return best, support, support3


def compute_features(emb: FeedEmbeddings, lexical: np.ndarray) -> np.ndarray:
    """Feature matrix (n_items, len(FEATURE_NAMES)); ``lexical`` is the TF-IDF cosine."""
    feed = emb.item_feed
    n_feeds = len(emb.article)
    cos_article = np.einsum("ij,ij->i", emb.items, emb.article[feed]).astype(np.float64)
    cos_title = np.einsum("ij,ij->i", emb.items, emb.title[feed]).astype(np.float64)
    best, support, support3 = _per_feed_similarities(emb)
    lexical = np.asarray(lexical, dtype=np.float64)
    a = _group_stats(cos_article, feed, n_feeds)
    b = _group_stats(best, feed, n_feeds)
    lx = _group_stats(lexical, feed, n_feeds)
    columns = {
        "cos_article": cos_article,
        "cos_best_sentence": best,
        "cos_title": cos_title,
        "tfidf": lexical,
        "cos_article_z": (cos_article - a["mean"]) / (a["std"] + 1e-3),
        "cos_article_rank": a["rank_frac"],
        "cos_article_minus_max": cos_article - a["max"],
        "cos_article_minus_median": cos_article - a["median"],
        "best_sentence_minus_median": best - b["median"],
        "tfidf_z": (lexical - lx["mean"]) / (lx["std"] + 1e-3),
        "neighbour_support": support,
        "neighbour_support_top3": support3,
    }
    return np.column_stack([columns[name] for name in FEATURE_NAMES])
