"""Per (article, item) features, from arrays only.

Absolute similarities drift between articles (a long article is "close" to more
things, a blurb to fewer), so each raw similarity also appears relative to its
own feed: the items of one feed compete for the article's attention. That keeps
a feature's meaning the same for a one-line blurb and a ten-paragraph article.
"""

from __future__ import annotations

import numpy as np

from relevance.embed.encoder import FeedEmbeddings
from relevance.model.names import NAME_FEATURES
from relevance.model.similarity import SIMILARITIES, SUPPORT, embedding_similarities

#: Raw similarities, each also given relative to its feed (RELATIVE).
BASE = (*SIMILARITIES, "tfidf", *NAME_FEATURES)
RELATIVE = ("z", "minus_max", "minus_median", "rank")
FEATURE_NAMES = [
    *BASE,
    *(f"{name}_{kind}" for name in BASE for kind in RELATIVE),
    *SUPPORT,
]


#: Every feature again, times the article's longness (``relevance.model.calibration``:
#: 0 for a blurb, 1 for a full article, log-linear between), and the longness itself: the
#: same cosine or name overlap means less under ten paragraphs than under one line, so the
#: head weighs evidence by the kind of article, smoothly (no jump at any length).
LENGTH_FEATURES = [*(f"{name}_x_longness" for name in FEATURE_NAMES), "longness"]


def feature_names(length_features: bool) -> list[str]:
    """The columns of a model's design matrix, as its config.json lists them."""
    return [*FEATURE_NAMES, *LENGTH_FEATURES] if length_features else list(FEATURE_NAMES)


def with_length(X: np.ndarray, length: np.ndarray) -> np.ndarray:
    """``X``, then ``X`` times each row's article longness, then the longness."""
    length = np.asarray(length, dtype=np.float64)
    return np.column_stack([X, X * length[:, None], length])


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


def compute_features(
    emb: FeedEmbeddings,
    lexical: np.ndarray,
    name_overlap: dict[str, np.ndarray],
    similarities: dict[str, np.ndarray] | None = None,
) -> np.ndarray:
    """Feature matrix (n_items, len(FEATURE_NAMES)).

    ``lexical`` is the TF-IDF cosine per item; ``name_overlap`` maps NAME_FEATURES to
    one value per item (relevance.model.names); ``similarities``, when given, are
    ``embedding_similarities(emb)`` computed once (cross-validation reuses them).
    """
    feed = emb.item_feed
    n_feeds = len(emb.article)
    columns = dict(similarities if similarities is not None else embedding_similarities(emb))
    columns["tfidf"] = np.asarray(lexical, dtype=np.float64)
    for name in NAME_FEATURES:
        columns[name] = np.asarray(name_overlap[name], dtype=np.float64)
    for name in BASE:
        values = columns[name]
        s = _group_stats(values, feed, n_feeds)
        columns[f"{name}_z"] = (values - s["mean"]) / (s["std"] + 1e-3)
        columns[f"{name}_minus_max"] = values - s["max"]
        columns[f"{name}_minus_median"] = values - s["median"]
        columns[f"{name}_rank"] = s["rank_frac"]
    return np.column_stack([columns[name] for name in FEATURE_NAMES])
