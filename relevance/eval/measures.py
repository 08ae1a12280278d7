"""What evaluation measures for one level: metrics with intervals, thresholds, slices, errors.

Every figure comes with a 95% interval from resampling whole feeds (items of one feed share
an article, so they are not independent), and every system is resampled with the same seed.
Pure arrays in, dicts out; ``relevance.eval.evaluation`` runs them level by level.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import partial
from typing import Any

import numpy as np
import pandas as pd

from relevance.embed.encoder import FeedEmbeddings
from relevance.model.metrics import (
    _FeedResampler,
    _interval,
    all_metrics,
    best_f1_threshold,
    bootstrap_ci,
    item_metrics,
    threshold_sweep,
)
from relevance.model.rank import rank_within_feed

RANKING = ("average_precision", "roc_auc", "ndcg@5", "ndcg@10", "map", "mrr", "group_auc")
GRADED = ("graded_ndcg@5", "graded_ndcg@10")
CALIBRATION = ("brier", "ece")
AT_THRESHOLD = ("precision", "recall", "f1", "mcc", "feeds_dropping_relevant")
COUNTS = ("tp", "fp", "tn", "fn")
FEED_LEVEL = ("ndcg@5", "ndcg@10", "map", "mrr", "group_auc", "feeds_dropping_relevant", *GRADED)
BY_CONSTRUCTION = ("average_precision", "roc_auc", "precision", "f1", "mcc")
NAN = float("nan")
N_ERRORS = 10
#: Articles shorter than this (characters, title and body) are blurbs in the length slice.
LONG_ARTICLE = 1000


def graded_ndcg_per_feed(
    gain: np.ndarray, score: np.ndarray, feed: np.ndarray, k: int
) -> np.ndarray:
    """nDCG@k of each feed with graded gains (2 same story, 1 related, 0 other), by feed code.

    Ties in score keep input order, as everywhere else; a feed whose gains are all 0 is nan.
    """
    codes, uniq = pd.factorize(pd.Series(feed), sort=True)
    n = len(uniq)
    order = np.lexsort((np.arange(len(score)), -score, codes))
    f, g = codes[order], gain[order].astype(np.float64)
    sizes = np.bincount(codes, minlength=n)
    starts = np.r_[0, np.cumsum(sizes)[:-1]]
    rank = np.arange(len(score)) - starts[f]
    disc = (rank < k) / np.log2(rank + 2.0)
    dcg = np.bincount(f, weights=(2.0**g - 1.0) * disc, minlength=n)
    ideal_order = np.lexsort((-g, f))
    gi = g[ideal_order]
    idcg = np.bincount(f, weights=(2.0**gi - 1.0) * disc, minlength=n)
    return np.where(idcg > 0, dcg / np.where(idcg > 0, idcg, 1.0), NAN)


def graded_metrics(
    gain: np.ndarray, score: np.ndarray, feed: np.ndarray, n_resamples: int, seed: int
) -> tuple[dict[str, float], dict[str, list[float]]]:
    """Graded nDCG@5 and @10 (mean over feeds with a positive gain) and feed-bootstrap CIs."""
    point, ci = {}, {}
    res = _FeedResampler(feed, seed)
    draws = [res.draw() for _ in range(n_resamples)]
    for k in (5, 10):
        per_feed = graded_ndcg_per_feed(gain, score, feed, k)
        name = f"graded_ndcg@{k}"
        valid = per_feed[~np.isnan(per_feed)]
        point[name] = float(valid.mean()) if valid.size else NAN
        samples = np.array(
            [np.nanmean(v) if np.any(~np.isnan(v := per_feed[d])) else NAN for d in draws]
        )
        ci[name] = list(_interval(samples, 0.05))
    return point, ci


def system_metrics(
    y: np.ndarray,
    score: np.ndarray,
    feed: np.ndarray,
    threshold: float | None = None,
    probability: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
    gain: np.ndarray | None = None,
) -> dict[str, Any]:
    """Point estimates and feed-bootstrap intervals for one system.

    Calibration metrics only for probabilities (a cosine is not one); threshold metrics
    only for systems with a trained threshold; graded nDCG when ``gain`` (the grades) is
    given. Counts get no interval.
    """
    fn = all_metrics if threshold is None else partial(all_metrics, threshold=threshold)
    point = fn(y, score, feed)
    keys = list(RANKING)
    if probability:
        keys += CALIBRATION
    if threshold is not None:
        keys += AT_THRESHOLD
    ci = bootstrap_ci(y, score, feed, fn, n_resamples=n_resamples, seed=seed) if keys else {}
    out: dict[str, Any] = {k: point[k] for k in keys}
    out["ci95"] = {k: list(ci[k]) for k in keys}
    if gain is not None:
        graded, graded_ci = graded_metrics(gain, score, feed, n_resamples, seed)
        out.update(graded)
        out["ci95"].update(graded_ci)
    if threshold is not None:
        out.update({k: int(point[k]) for k in COUNTS})
        out["threshold"] = float(threshold)
    return out


def threshold_analysis(y: np.ndarray, p: np.ndarray, trained: float) -> dict[str, Any]:
    """The trained threshold beside the one that would have been F1-best on this data.

    The F1-best threshold is tuned on the evaluation data itself, so its F1 is optimistic;
    a large gap to the trained one says the threshold does not transfer.
    """
    best_t, best_f1 = best_f1_threshold(y, p)
    sweep = threshold_sweep(y, p)
    at = {}
    for name, t in (("trained", trained), ("best_f1", best_t)):
        m = item_metrics(y, p, t) if np.isfinite(t) else {}
        at[name] = {
            "threshold": t,
            **{k: m.get(k, float("nan")) for k in ("precision", "recall", "f1")},
            "n_kept": int(np.sum(p >= t)) if np.isfinite(t) else 0,
        }
    return {
        "trained_threshold": trained,
        "best_f1_threshold": best_t,
        "best_f1": best_f1,
        "at": at,
        "sweep": sweep.to_dict(orient="records"),
    }


# ----------------------------------------------------------------------------- slices


def slice_metrics(
    y: np.ndarray,
    feed: np.ndarray,
    values: np.ndarray,
    scores: Mapping[str, np.ndarray],
    threshold: float,
    feed_level: bool,
    n_resamples: int = 1000,
    seed: int = 0,
) -> list[dict[str, Any]]:
    """Model metrics per slice value (feed metrics only when slices hold whole feeds).

    Slicing the items of one feed leaves a ranking nobody sees, so for item-level slices
    only item metrics are kept. A one-class slice (all relevant or all off-topic, e.g. a
    ``relation``) has AP, precision and F1 fixed by construction, so they are left out (NaN);
    there ``kept_share`` (items at or above the threshold, with its interval) is the figure:
    recall of an all-relevant slice, false-positive rate of an all-off-topic one.
    """
    rows = []
    p = scores["model"]
    kept = partial(_kept_share, threshold=threshold)
    for value in sorted(set(values.tolist())):
        m = values == value
        full = system_metrics(y[m], p[m], feed[m], threshold, True, n_resamples, seed)
        keep = [k for k in full["ci95"] if feed_level or k not in FEED_LEVEL]
        one_class = bool(y[m].min() == y[m].max())
        if one_class:
            for k in BY_CONSTRUCTION:
                full[k], full["ci95"][k] = NAN, [NAN, NAN]
        ci_kept = bootstrap_ci(y[m], p[m], feed[m], kept, n_resamples=n_resamples, seed=seed)
        ap = {n: item_metrics(y[m], s[m])["average_precision"] for n, s in scores.items()}
        row = {
            "value": value,
            "n_feeds": int(len(np.unique(feed[m]))),
            "n_items": int(m.sum()),
            "n_relevant": int(y[m].sum()),
            "one_class": one_class,
            "kept_share": kept(y[m], p[m], feed[m])["kept_share"],
            "mean_probability": float(np.mean(p[m])),
            "model": {k: full[k] for k in keep} | {k: full[k] for k in COUNTS},
            "ci95": {k: full["ci95"][k] for k in keep}
            | {"kept_share": list(ci_kept["kept_share"])},
            "average_precision": {n: NAN if one_class else v for n, v in ap.items()},
        }
        rows.append(row)
    rows.sort(key=lambda r: (-r["n_items"], r["value"]))
    return rows


def _kept_share(y: np.ndarray, p: np.ndarray, feed: np.ndarray, threshold: float) -> dict:
    """Share of items the model keeps (a metric_fn for ``bootstrap_ci``)."""
    return {"kept_share": float(np.mean(p >= threshold)) if len(p) else NAN}


# ----------------------------------------------------------------------------- errors


def worst_errors(
    frame: pd.DataFrame,
    emb: FeedEmbeddings,
    y: np.ndarray,
    p: np.ndarray,
    threshold: float,
    k: int = N_ERRORS,
) -> dict[str, list[dict[str, Any]]]:
    """The k most confident mistakes each way, with the article sentence the item matched.

    The best-matching sentence is usually why the model went wrong: a shared place or
    actor in one sentence of an otherwise different story.
    """
    rank = rank_within_feed(p, emb.item_feed)
    size = np.bincount(emb.item_feed)[emb.item_feed]
    fp = np.flatnonzero((y == 0) & (p >= threshold))
    fn = np.flatnonzero((y == 1) & (p < threshold))
    fp = fp[np.argsort(-p[fp], kind="stable")][:k]
    fn = fn[np.argsort(p[fn], kind="stable")][:k]

    def row(i: int) -> dict[str, Any]:
        f = int(emb.item_feed[i])
        segs = np.flatnonzero(emb.segment_feed == f)
        sims = emb.segments[segs] @ emb.items[i] if len(segs) else np.zeros(1)
        j = int(np.argmax(sims))
        sentences = emb.article_sentences[f]
        return {
            "feed_id": str(frame["feed_id"].iat[i]),
            "item_id": str(frame["item_id"].iat[i]),
            "article_title": str(frame["article_title"].iat[i]),
            "item_title": str(frame["item_title"].iat[i]),
            "label": int(y[i]),
            **({"grade": int(frame["grade"].iat[i])} if "grade" in frame.columns else {}),
            "probability": float(p[i]),
            "rank": int(rank[i]),
            "feed_size": int(size[i]),
            "best_sentence": sentences[j] if j < len(sentences) else "",
            "best_sentence_cosine": float(sims[j]),
        }

    return {"false_positives": [row(i) for i in fp], "false_negatives": [row(i) for i in fn]}
