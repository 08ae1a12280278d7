"""Evaluation harness: the model and its baselines scored on the same labelled feeds.

Every figure comes with a 95% interval from resampling whole feeds (items of one feed share
an article, so they are not independent), and every system is resampled with the same seed,
so intervals and the paired model-vs-compare delta see the same feeds. This module computes;
``relevance.eval.report`` renders. Nothing here reads the data files themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.embed.encoder import Embedder, FeedEmbeddings, embed_feeds
from relevance.eval.slices import slice_values
from relevance.io.meta import read_meta
from relevance.io.schema import LABEL, check_frame
from relevance.io.text import feed_texts
from relevance.model.estimator import RelevanceModel
from relevance.model.lexical import TfidfLexicon
from relevance.model.metrics import (
    all_metrics,
    best_f1_threshold,
    bootstrap_ci,
    item_metrics,
    paired_bootstrap_delta,
    threshold_sweep,
)
from relevance.model.rank import rank_within_feed
from relevance.progress import Progress, ProgressEvent, report

RANKING = ("average_precision", "roc_auc", "ndcg@5", "ndcg@10", "map", "mrr", "group_auc")
CALIBRATION = ("brier", "ece")
AT_THRESHOLD = ("precision", "recall", "f1", "mcc", "feeds_dropping_relevant")
COUNTS = ("tp", "fp", "tn", "fn")
FEED_LEVEL = ("ndcg@5", "ndcg@10", "map", "mrr", "group_auc", "feeds_dropping_relevant")
SYSTEM_NAMES = {
    "model": "relevance model",
    "compare": "compared model",
    "cosine": "zero-shot embedding cosine",
    "tfidf": "TF-IDF cosine",
}
BY_CONSTRUCTION = ("average_precision", "roc_auc", "precision", "f1", "mcc")
NAN = float("nan")
N_ERRORS = 10


@dataclass
class Evaluation:
    """What one run measured: the JSON document plus the arrays the plots need."""

    metrics: dict[str, Any]
    y: np.ndarray
    feed: np.ndarray
    scores: dict[str, np.ndarray]  # system -> one score per row, same row order as the data
    thresholds: dict[str, float]  # systems that have a trained threshold
    names: dict[str, str] = field(default_factory=dict)  # system -> human label

    def to_json(self) -> str:
        """Deterministic JSON: sorted keys, NaN as null, floats at full precision."""
        return json.dumps(_plain(self.metrics), indent=2, sort_keys=True, allow_nan=False) + "\n"


def _plain(obj: Any) -> Any:
    """numpy scalars to Python, NaN to None, tuples to lists (JSON has no NaN)."""
    if isinstance(obj, dict):
        return {str(k): _plain(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple | np.ndarray):
        return [_plain(v) for v in obj]
    if isinstance(obj, bool | np.bool_):
        return bool(obj)
    if isinstance(obj, int | np.integer):
        return int(obj)
    if isinstance(obj, float | np.floating):
        return float(obj) if np.isfinite(obj) else None
    return obj


def frame_sha256(frame: pd.DataFrame) -> str:
    """A content hash when no files are given (the in-memory API)."""
    text = frame.to_csv(index=False, lineterminator="\n")
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


# ----------------------------------------------------------------------------- scores


def cosine_scores(emb: FeedEmbeddings) -> np.ndarray:
    """Zero-shot baseline: cosine of each item with its feed's whole-article embedding."""
    return np.einsum("ij,ij->i", emb.items, emb.article[emb.item_feed]).astype(np.float64)


def tfidf_scores(frame: pd.DataFrame, item_feed: np.ndarray) -> np.ndarray:
    """Lexical baseline: TF-IDF cosine with IDF fitted on this data (unsupervised)."""
    texts = feed_texts(frame)
    articles, items = texts.articles, texts.items
    return TfidfLexicon().fit(articles + items).cosine(articles, items, item_feed)


class _Progressive:
    """An embedder whose one big ``encode`` reports progress, chunk by chunk.

    Embedding is most of a run's time and a single call; chunking it (always, so terminal
    and piped runs compute the same) lets the bar move. Everything else is delegated.
    """

    CHUNK = 1024

    def __init__(self, inner: Embedder, progress: Progress | None) -> None:
        self.inner, self.progress = inner, progress
        self.model_id, self.max_tokens = inner.model_id, inner.max_tokens

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return self.inner.count_tokens(texts)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        if len(texts) <= self.CHUNK:
            return self.inner.encode(texts)
        parts: list[np.ndarray] = []
        done = 0
        for i in range(0, len(texts), self.CHUNK):
            parts.append(self.inner.encode(texts[i : i + self.CHUNK]))
            done += len(parts[-1])
            last = done == len(texts)
            event = ProgressEvent("embedding", done, len(texts), "text", finished=last)
            report(self.progress, event)
        return np.concatenate(parts)


def _same_embedder(a: Embedder, b: Embedder) -> bool:
    """Embeddings can be reused only if weights and window length are identical."""
    return a.fingerprint == b.fingerprint and a.max_tokens == b.max_tokens


# ----------------------------------------------------------------------------- metrics


def system_metrics(
    y: np.ndarray,
    score: np.ndarray,
    feed: np.ndarray,
    threshold: float | None = None,
    probability: bool = False,
    n_resamples: int = 1000,
    seed: int = 0,
) -> dict[str, Any]:
    """Point estimates and feed-bootstrap intervals for one system.

    Calibration metrics only for probabilities (a cosine is not one); threshold metrics
    only for systems with a trained threshold. Counts get no interval.
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
    p: np.ndarray,
    threshold: float,
    k: int = N_ERRORS,
) -> dict[str, list[dict[str, Any]]]:
    """The k most confident mistakes each way, with the article sentence the item matched.

    The best-matching sentence is usually why the model went wrong: a shared place or
    actor in one sentence of an otherwise different story.
    """
    y = frame[LABEL].to_numpy(dtype=np.int64)
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
            "probability": float(p[i]),
            "rank": int(rank[i]),
            "feed_size": int(size[i]),
            "best_sentence": sentences[j] if j < len(sentences) else "",
            "best_sentence_cosine": float(sims[j]),
        }

    return {"false_positives": [row(i) for i in fp], "false_negatives": [row(i) for i in fn]}


# ----------------------------------------------------------------------------- the run


def _model_info(model: RelevanceModel, label: str | None, data_sha: str) -> dict[str, Any]:
    config = getattr(model, "config_", {}) or {}
    trained_on = (config.get("training_data") or {}).get("sha256")
    emb = model.embedder_
    return {
        "path": label,
        "embedder": emb.model_id,
        "embedder_sha256": emb.fingerprint,
        "threshold": float(model.threshold_),
        "training_sha256": trained_on,
        "in_sample": trained_on == data_sha if trained_on else None,
    }


def evaluate(
    frame: pd.DataFrame,
    model: RelevanceModel,
    compare: RelevanceModel | None = None,
    meta: Mapping[str, dict] | str | Path | None = None,
    slice_by: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    data_sha256: str | None = None,
    labels: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    n_errors: int = N_ERRORS,
) -> Evaluation:
    """Score every system on ``frame`` (labelled long format) and measure them.

    The feeds are embedded once; a ``compare`` model with the same embedder reuses those
    embeddings. ``labels`` names the model folders in the output (e.g. their paths);
    ``progress`` receives an event per step (and per 1,024 texts embedded).
    """
    check_frame(frame, need_label=True)
    frame = frame.reset_index(drop=True)
    if isinstance(meta, str | Path):
        meta = read_meta(meta)
    labels = dict(labels or {})
    sha = data_sha256 or frame_sha256(frame)
    y = frame[LABEL].to_numpy(dtype=np.int64)
    feed = frame["feed_id"].astype(str).to_numpy()
    names = ["model", *(["compare"] if compare is not None else []), "cosine", "tfidf"]
    steps = 4 + 2 * (compare is not None) + len(names) + (slice_by is not None)
    done = 0

    def step(what: str) -> None:
        report(progress, ProgressEvent("evaluate", done, steps, "step", {"step": what}))

    def advance() -> None:
        nonlocal done
        done += 1
        report(progress, ProgressEvent("evaluate", done, steps, "step", finished=done == steps))

    step(f"embedding {len(frame):,} items")
    emb = embed_feeds(frame, _Progressive(model.embedder_, progress))
    advance()
    scores = {"model": model.relevance_embedded(frame, emb)}
    thresholds = {"model": float(model.threshold_)}
    if compare is not None:
        step("scoring the compared model")
        same = _same_embedder(model.embedder_, compare.embedder_)
        emb_c = emb if same else embed_feeds(frame, _Progressive(compare.embedder_, progress))
        scores["compare"] = compare.relevance_embedded(frame, emb_c)
        thresholds["compare"] = float(compare.threshold_)
        advance()
    step("baselines")
    scores["cosine"] = cosine_scores(emb)
    scores["tfidf"] = tfidf_scores(frame, emb.item_feed)
    advance()

    systems: dict[str, Any] = {}
    for name in names:
        step(f"bootstrap {name}")
        systems[name] = system_metrics(
            y, scores[name], feed, thresholds.get(name), name in thresholds, n_resamples, seed
        )
        advance()
    if compare is not None:
        step("paired delta")
        delta = paired_bootstrap_delta(
            y, scores["model"], scores["compare"], feed, "average_precision", n_resamples, seed
        )
        systems["compare"]["delta_average_precision"] = delta
        advance()

    doc: dict[str, Any] = {
        "data": {
            "n_feeds": int(len(np.unique(feed))),
            "n_items": int(len(y)),
            "n_relevant": int(y.sum()),
            "sha256": sha,
        },
        "threshold": thresholds["model"],
        "systems": systems,
        "bootstrap": {"n_resamples": n_resamples, "seed": seed, "unit": "feed", "level": 0.95},
        "models": {
            name: _model_info(m, labels.get(name), sha)
            for name, m in (("model", model), ("compare", compare))
            if m is not None
        },
    }
    step("thresholds")
    doc["threshold_analysis"] = threshold_analysis(y, scores["model"], thresholds["model"])
    advance()
    if slice_by is not None:
        step(f"slices by {slice_by}")
        values, level = slice_values(frame, slice_by, meta)
        by_feed = pd.Series(values).groupby(feed).nunique()
        whole_feeds = bool((by_feed <= 1).all())
        doc["slices"] = {
            "field": slice_by,
            "source": level,
            "feed_level": whole_feeds,
            "rows": slice_metrics(
                y, feed, values, scores, thresholds["model"], whole_feeds, n_resamples, seed
            ),
        }
        advance()
    step("errors")
    doc["errors"] = worst_errors(frame, emb, scores["model"], thresholds["model"], n_errors)
    advance()
    return Evaluation(
        metrics=doc,
        y=y,
        feed=feed,
        scores=scores,
        thresholds=thresholds,
        names={n: SYSTEM_NAMES[n] for n in names},
    )
