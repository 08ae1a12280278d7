"""Evaluation metrics for feed relevance: item-level, feed-level (ranking) and bootstrap CIs.

Pure array-in/array-out (numpy, sklearn semantics, pandas only for tables); no I/O.

Conventions (shared by every function here):

* ``y`` holds 0/1 labels (1 = relevant), ``p``/``score`` one float per item, ``feed`` one
  feed id per item (any hashable numpy can sort: ints or strings; items need not be grouped).
* A value that is undefined on the given data (ROC-AUC with one class, precision with no
  predicted positive, a feed metric with no eligible feed, ...) is ``nan``, never an error.
  Malformed input (length mismatch, labels not 0/1, non-finite scores) raises ``ValueError``.
* Ranking ties: inside a feed items are ordered by ``(-score, original position)`` (a stable
  sort), so nDCG/MAP/MRR are deterministic and depend on input order only among exactly equal
  scores. ROC-AUC (item and per feed) counts a tied positive/negative pair as 0.5, as sklearn.
* ``average_precision`` (item level) is sklearn's step-wise AP, where tied scores form one
  threshold; per-feed ``map`` is the IR average precision over the tie-broken ranking. The two
  agree when there are no ties.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

NAN = float("nan")
Metrics = dict[str, float]
_FEED_KEYS = ("ndcg@5", "ndcg@10", "map", "mrr", "group_auc")
_DROP = "feeds_dropping_relevant"


def _check(y: Any, p: Any, feed: Any = None) -> tuple[np.ndarray, np.ndarray]:
    """Validate once at the boundary so the maths below can assume clean float arrays."""
    y, p = np.asarray(y, dtype=float).ravel(), np.asarray(p, dtype=float).ravel()
    if y.shape != p.shape or (feed is not None and np.shape(feed) != y.shape):
        raise ValueError(f"length mismatch: y {y.shape}, score {p.shape}, feed {np.shape(feed)}")
    if not np.all((y == 0) | (y == 1)):
        raise ValueError("labels must be 0/1")
    if not np.all(np.isfinite(p)):
        raise ValueError("scores must be finite")
    return y, p


def _nanmean(v: np.ndarray) -> float:
    """Mean over the defined entries; nan (without a RuntimeWarning) when there are none."""
    v = v[~np.isnan(v)]
    return float(v.mean()) if v.size else NAN


def _div(a: float, b: float) -> float:
    return float(a / b) if b else NAN


# ----------------------------------------------------------------------------- item level


def _ap_auc(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """sklearn's average_precision and roc_auc from one sort (the bootstrap calls this a lot).

    Tied scores form one threshold, exactly as in ``precision_recall_curve``/``roc_curve``.
    """
    order = np.argsort(-p, kind="stable")
    ps, ys = p[order], y[order]
    last = np.r_[np.flatnonzero(np.diff(ps)), ps.size - 1]  # last index of each tie group
    tps = np.cumsum(ys)[last]
    fps = last + 1 - tps
    n_pos, n_neg = tps[-1], fps[-1]
    ap = auc = NAN
    if n_pos > 0:
        recall_step = np.diff(np.r_[0.0, tps]) / n_pos
        ap = float(np.sum(recall_step * tps / (tps + fps)))
    if n_pos > 0 and n_neg > 0:
        tp0, fp0 = np.r_[0.0, tps], np.r_[0.0, fps]
        auc = float(np.sum(np.diff(fp0) * (tp0[1:] + tp0[:-1])) / (2 * n_pos * n_neg))
    return ap, auc


def _bin_index(p: np.ndarray, n_bins: int) -> np.ndarray:
    """Bin b holds b/n <= p < (b+1)/n, with p == 1 in the last bin.

    ``floor(p * n)`` alone puts some p == k/n one bin low (e.g. 29/100 * 100 < 29 in floats).
    """
    idx = np.floor(p * n_bins).astype(int)
    idx += p >= (idx + 1) / n_bins
    return np.clip(idx, 0, n_bins - 1)


def _ece(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    """Count-weighted mean |mean p - share positive| over equal-width bins (numpy: fast)."""
    idx = _bin_index(p, n_bins)
    gap = np.bincount(idx, weights=p - y, minlength=n_bins)  # = count * (mean_p - frac_pos)
    return float(np.abs(gap).sum() / y.size)


def _confusion(y: np.ndarray, p: np.ndarray, threshold: float) -> Metrics:
    pred = p >= threshold
    tp = float(np.sum(pred & (y == 1)))
    fp = float(np.sum(pred & (y == 0)))
    fn = float(np.sum(~pred & (y == 1)))
    tn = float(y.size - tp - fp - fn)
    denom = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)
    return {
        "precision": _div(tp, tp + fp),
        "recall": _div(tp, tp + fn),
        "f1": _div(2 * tp, 2 * tp + fp + fn),
        # sklearn returns 0.0 when a marginal is empty; undefined is nan here (see module doc).
        "mcc": float((tp * tn - fp * fn) / np.sqrt(denom)) if denom else NAN,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def item_metrics(y: np.ndarray, p: np.ndarray, threshold: float | None = None) -> Metrics:
    """Pooled item metrics: ranking quality (AP, AUC), calibration (Brier, ECE), confusion.

    Brier and ECE are nan when some p lies outside [0, 1] (a raw score is not a probability).
    """
    y, p = _check(y, p)
    out: Metrics = dict.fromkeys(("average_precision", "roc_auc", "brier", "ece"), NAN)
    if y.size:
        out["average_precision"], out["roc_auc"] = _ap_auc(y, p)
        if p.min() >= 0 and p.max() <= 1:
            out["brier"] = float(np.mean((p - y) ** 2))  # brier_score_loss, without its checks
            out["ece"] = _ece(y, p, n_bins=10)
    if threshold is not None:
        out.update(_confusion(y, p, threshold))
    return out


# ----------------------------------------------------------------------------- feed level


def _factorize(feed: Any) -> tuple[np.ndarray, int]:
    uniq, codes = np.unique(np.asarray(feed), return_inverse=True)
    return codes.ravel().astype(np.intp), int(uniq.size)


def _per_feed(
    y: np.ndarray, s: np.ndarray, codes: np.ndarray, n_feeds: int, threshold: float | None
) -> dict[str, np.ndarray]:
    """One value per feed for each feed metric, nan where the feed is not eligible.

    Vectorised over all feeds at once (one lexsort, then bincount/reduceat per feed), and
    exposed separately so the bootstrap can compute it once and just average resampled rows.
    Requires every code in ``range(n_feeds)`` to occur (true after ``_factorize``).
    """
    order = np.lexsort((-s, codes))  # feed, then score desc; lexsort is stable -> position
    f, ys, ss = codes[order], y[order], s[order]
    sizes = np.bincount(codes, minlength=n_feeds)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rank = np.arange(y.size) - starts[f]  # 0-based rank inside the feed
    npos = np.bincount(f, weights=ys, minlength=n_feeds)
    nneg = sizes - npos
    has = npos > 0
    safe_npos = np.where(has, npos, 1.0)
    disc = 1.0 / np.log2(rank + 2.0)
    out: dict[str, np.ndarray] = {}
    for k in (5, 10):
        dcg = np.bincount(f, weights=ys * disc * (rank < k), minlength=n_feeds)
        ideal = np.r_[0.0, np.cumsum(1.0 / np.log2(np.arange(k) + 2.0))]
        idcg = ideal[np.minimum(npos, k).astype(int)]
        out[f"ndcg@{k}"] = np.where(has, dcg / np.where(has, idcg, 1.0), NAN)
    cum = np.cumsum(ys)
    hits = cum - np.r_[0.0, cum][starts][f]  # relevant items at or above this rank
    ap = np.bincount(f, weights=ys * hits / (rank + 1.0), minlength=n_feeds) / safe_npos
    out["map"] = np.where(has, ap, NAN)
    out["mrr"] = np.where(has, np.maximum.reduceat(ys / (rank + 1.0), starts), NAN)
    # Per-feed Mann-Whitney AUC with mid-ranks for ties (== sklearn's 0.5 per tied pair).
    new_run = np.r_[True, (f[1:] != f[:-1]) | (ss[1:] != ss[:-1])]
    run_id = np.cumsum(new_run) - 1
    run_start = np.flatnonzero(new_run)
    run_len = np.diff(np.r_[run_start, y.size])
    mid_desc = (rank[run_start] + (run_len - 1) / 2.0 + 1.0)[run_id]
    rank_sum = np.bincount(f, weights=ys * (sizes[f] + 1.0 - mid_desc), minlength=n_feeds)
    both = has & (nneg > 0)
    auc = (rank_sum - npos * (npos + 1) / 2) / np.where(both, npos * nneg, 1.0)
    out["group_auc"] = np.where(both, auc, NAN)
    if threshold is not None:
        dropped = np.bincount(f, weights=ys * (ss < threshold), minlength=n_feeds) > 0
        out[_DROP] = np.where(has, dropped.astype(float), NAN)
    return out


def _aggregate(per_feed: dict[str, np.ndarray], rows: np.ndarray | None = None) -> Metrics:
    return {k: _nanmean(v if rows is None else v[rows]) for k, v in per_feed.items()}


def feed_metrics(
    y: np.ndarray, score: np.ndarray, feed: np.ndarray, threshold: float | None = None
) -> Metrics:
    """Ranking quality as a reader of each feed sees it, averaged over eligible feeds.

    nDCG/MAP/MRR/drop-share use feeds with >= 1 relevant item; group AUC those with both classes.
    """
    y, s = _check(y, score, feed)
    keys = _FEED_KEYS + ((_DROP,) if threshold is not None else ())
    if not y.size:
        return dict.fromkeys(keys, NAN)
    codes, n_feeds = _factorize(feed)
    return _aggregate(_per_feed(y, s, codes, n_feeds, threshold))


def all_metrics(
    y: np.ndarray, score: np.ndarray, feed: np.ndarray, threshold: float | None = None
) -> Metrics:
    """Item and feed metrics in one dict (the default report)."""
    return {**item_metrics(y, score, threshold), **feed_metrics(y, score, feed, threshold)}


# ----------------------------------------------------------------------------- bootstrap


class _FeedResampler:
    """Draws whole feeds with replacement; a feed drawn twice becomes two distinct feeds."""

    def __init__(self, feed: Any, seed: int) -> None:
        self.codes, self.n_feeds = _factorize(feed)
        self.order = np.argsort(self.codes, kind="stable")
        self.sizes = np.bincount(self.codes, minlength=self.n_feeds)
        self.starts = np.r_[0, np.cumsum(self.sizes)[:-1]]
        self.rng = np.random.default_rng(seed)

    def draw(self) -> np.ndarray:
        return self.rng.integers(0, self.n_feeds, size=self.n_feeds)

    def items(self, draw: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Item indices of the drawn feeds, and fresh feed ids 0..n-1 (one per draw)."""
        lens = self.sizes[draw]
        offsets = np.repeat(np.cumsum(lens) - lens, lens)
        pos = np.arange(lens.sum()) - offsets + np.repeat(self.starts[draw], lens)
        return self.order[pos], np.repeat(np.arange(draw.size), lens)


def _known_fn(metric_fn: Callable[..., Metrics]) -> tuple[bool, float | None] | None:
    """(include item metrics, threshold) when metric_fn is ours, so the fast path is exact."""
    fn, kw = metric_fn, {}
    if isinstance(fn, partial) and not fn.args:
        fn, kw = fn.func, dict(fn.keywords)
    if fn in (all_metrics, feed_metrics) and set(kw) <= {"threshold"}:
        return fn is all_metrics, kw.get("threshold")
    return None


def _interval(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    if np.all(np.isnan(samples)):
        return NAN, NAN
    lo, hi = np.nanpercentile(samples, [100 * alpha / 2, 100 * (1 - alpha / 2)])
    return float(lo), float(hi)


def bootstrap_ci(
    y: np.ndarray,
    score: np.ndarray,
    feed: np.ndarray,
    metric_fn: Callable[[np.ndarray, np.ndarray, np.ndarray], Metrics],
    n_resamples: int = 1000,
    seed: int = 0,
    alpha: float = 0.05,
) -> dict[str, tuple[float, float]]:
    """Percentile CI per metric, resampling whole feeds (items in a feed are not independent).

    For ``all_metrics``/``feed_metrics`` (or a ``functools.partial`` of them setting only
    ``threshold``) per-feed values are computed once and resamples just average them; any other
    ``metric_fn`` is called on the concatenated resampled arrays with relabelled feed ids.
    """
    y, s = _check(y, score, feed)
    keys = list(metric_fn(y, s, feed))
    if not y.size:
        return dict.fromkeys(keys, (NAN, NAN))
    res = _FeedResampler(feed, seed)
    known = _known_fn(metric_fn)
    per_feed = None if known is None else _per_feed(y, s, res.codes, res.n_feeds, known[1])
    samples = np.full((n_resamples, len(keys)), NAN)
    for i in range(n_resamples):
        draw = res.draw()
        if known is not None and per_feed is not None:
            out = _aggregate(per_feed, draw)
            if known[0]:
                idx, _ = res.items(draw)
                out.update(item_metrics(y[idx], s[idx], known[1]))
        else:
            idx, new_feed = res.items(draw)
            out = metric_fn(y[idx], s[idx], new_feed)
        samples[i] = [out.get(k, NAN) for k in keys]
    return {k: _interval(samples[:, j], alpha) for j, k in enumerate(keys)}


def paired_bootstrap_delta(
    y: np.ndarray,
    score_a: np.ndarray,
    score_b: np.ndarray,
    feed: np.ndarray,
    metric: str = "average_precision",
    n_resamples: int = 1000,
    seed: int = 0,
    threshold: float | None = None,
) -> dict[str, Any]:
    """Is model a better than b on ``metric``? Both are scored on the same resampled feeds.

    ``p_value`` is the one-sided share of resamples with delta <= 0 among resamples where the
    delta is defined (nan when none is). ``threshold`` is needed for confusion metrics only.
    """
    y, a = _check(y, score_a, feed)
    _, b = _check(y, score_b, feed)
    full_a, full_b = all_metrics(y, a, feed, threshold), all_metrics(y, b, feed, threshold)
    if metric not in full_a:
        raise ValueError(f"unknown metric {metric!r}; choose from {sorted(full_a)}")
    deltas = np.full(n_resamples, NAN)
    res = _FeedResampler(feed, seed) if y.size else None
    if res is not None and metric in (*_FEED_KEYS, _DROP):  # per-feed values are fixed
        va, vb = (_per_feed(y, sc, res.codes, res.n_feeds, threshold)[metric] for sc in (a, b))
        for i in range(n_resamples):
            draw = res.draw()
            deltas[i] = _nanmean(va[draw]) - _nanmean(vb[draw])
    elif res is not None:
        for i in range(n_resamples):
            idx, _ = res.items(res.draw())
            ma, mb = (item_metrics(y[idx], sc[idx], threshold)[metric] for sc in (a, b))
            deltas[i] = ma - mb
    valid = deltas[~np.isnan(deltas)]
    return {
        "delta": full_a[metric] - full_b[metric],
        "ci95": list(_interval(deltas, 0.05)),
        "p_value": float(np.mean(valid <= 0)) if valid.size else NAN,
    }


# ----------------------------------------------------------------------------- thresholds


def _counts_at(y: np.ndarray, p: np.ndarray, t: np.ndarray) -> tuple[np.ndarray, ...]:
    """tp, fp, fn, kept for 'predict p >= t' at many thresholds via one sort + searchsorted."""
    order = np.argsort(p, kind="stable")
    ps = p[order]
    pos_at_or_above = np.r_[np.cumsum(y[order][::-1])[::-1], 0.0]
    first = np.searchsorted(ps, t, side="left")
    kept = (p.size - first).astype(float)
    tp = pos_at_or_above[first]
    return tp, kept - tp, y.sum() - tp, kept


def _ratio(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.divide(a, b, out=np.full(a.shape, NAN), where=b > 0)


def threshold_sweep(
    y: np.ndarray, p: np.ndarray, thresholds: np.ndarray | None = None
) -> pd.DataFrame:
    """Precision/recall/F1 and items kept per threshold, to pick an operating point."""
    y, p = _check(y, p)
    t = np.linspace(0.01, 0.99, 99) if thresholds is None else np.asarray(thresholds, float)
    tp, fp, fn, kept = _counts_at(y, p, t)
    return pd.DataFrame(
        {
            "threshold": t,
            "precision": _ratio(tp, tp + fp),
            "recall": _ratio(tp, tp + fn),
            "f1": _ratio(2 * tp, 2 * tp + fp + fn),
            "n_kept": kept.astype(int),
        }
    )


def threshold_curve(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, ...]:
    """(t, precision, recall, F1) for "keep when p >= t" at every distinct t, descending.

    The one threshold sweep: training chooses its threshold on it, and the report's
    F1-best threshold is its F1 maximum (ties go to the larger, stricter threshold).
    """
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    tp = np.cumsum(y_sorted)
    kept = np.arange(1, len(y) + 1)
    last = np.r_[np.flatnonzero(np.diff(p_sorted)), len(p) - 1]  # end of each tie block
    thresholds = p_sorted[last]
    tp, kept = tp[last].astype(np.float64), kept[last].astype(np.float64)
    positives = max(float(y.sum()), 1.0)
    precision = tp / kept
    recall = tp / positives
    f1 = np.where(tp > 0, 2 * precision * recall / np.maximum(precision + recall, 1e-12), 0.0)
    return thresholds, precision, recall, f1


def best_f1_threshold(y: np.ndarray, p: np.ndarray) -> tuple[float, float]:
    """(threshold, F1) maximising F1 over the distinct p, on ``threshold_curve``."""
    y, p = _check(y, p)
    if not y.size:
        return NAN, NAN
    t, _, _, f1 = threshold_curve(y, p)
    best = int(np.argmax(f1))  # the curve descends: the first maximum is the largest t
    return float(t[best]), float(f1[best])


def reliability_curve(y: np.ndarray, p: np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Equal-width calibration bins on [0, 1]; empty bins are kept with nan means, count 0."""
    y, p = _check(y, p)
    idx = _bin_index(p, n_bins)
    count = np.bincount(idx, minlength=n_bins).astype(float)
    edges = np.arange(n_bins + 1) / n_bins
    return pd.DataFrame(
        {
            "bin": np.arange(n_bins),
            "lower": edges[:-1],
            "upper": edges[1:],
            "mean_predicted": _ratio(np.bincount(idx, weights=p, minlength=n_bins), count),
            "fraction_positive": _ratio(np.bincount(idx, weights=y, minlength=n_bins), count),
            "count": count.astype(int),
        }
    )
