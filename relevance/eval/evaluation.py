"""Evaluation harness: the model and its baselines scored on the same labelled feeds.

Each level the labels have (story always; topic with grades) is measured on its own:
the model's probability for that level, a compared model's, and two baselines, with
95% intervals from resampling whole feeds (the same seed for every system, so the
paired delta sees the same feeds), slices by article length and by any field, and
the worst errors. This module computes; ``relevance.eval.report`` renders. Nothing
here reads the data files themselves.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance import __version__
from relevance.embed.encoder import Embedder, FeedEmbeddings, embed_feeds
from relevance.eval.measures import (
    AT_THRESHOLD,
    CALIBRATION,
    FEED_LEVEL,
    LONG_ARTICLE,
    N_ERRORS,
    RANKING,
    slice_metrics,
    system_metrics,
    threshold_analysis,
    worst_errors,
)
from relevance.eval.sample import in_sample
from relevance.eval.slices import slice_values
from relevance.io.meta import read_meta
from relevance.io.schema import GRADE, check_frame
from relevance.io.text import feed_texts
from relevance.model.estimator import RelevanceModel
from relevance.model.levels import LevelError, targets
from relevance.model.lexical import TfidfLexicon
from relevance.model.metrics import paired_bootstrap_delta
from relevance.persistence.artifacts import training_texts
from relevance.progress import Progress, ProgressEvent, report

__all__ = ["AT_THRESHOLD", "CALIBRATION", "FEED_LEVEL", "RANKING", "Evaluation", "evaluate"]

SYSTEM_NAMES = {
    "model": "relevance model",
    "compare": "compared model",
    "cosine": "cosine, the model's embedder",
    "cosine_frozen": "cosine, frozen all-MiniLM-L6-v2",
    "tfidf": "TF-IDF cosine",
}


@dataclass
class LevelEvaluation:
    """One level's part of a run: its JSON document plus the arrays the plots need."""

    level: str
    metrics: dict[str, Any]
    y: np.ndarray
    feed: np.ndarray
    scores: dict[str, np.ndarray]  # system -> one score per row, same row order as the data
    thresholds: dict[str, float]  # systems that have a trained threshold
    names: dict[str, str] = field(default_factory=dict)  # system -> human label


@dataclass
class Evaluation:
    """What one run measured: the whole JSON document, and each level's evaluation."""

    metrics: dict[str, Any]
    levels: dict[str, LevelEvaluation]

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


# ----------------------------------------------------------------------------- the run


def _model_info(model: RelevanceModel, label: str | None, sample: dict) -> dict[str, Any]:
    config = getattr(model, "config_", {}) or {}
    emb = model.embedder_
    identity = getattr(model, "identity_", {})
    return {
        "path": label,
        "id": identity.get("id"),
        "sha256": identity.get("sha256"),
        "embedder": emb.model_id,
        "embedder_sha256": emb.fingerprint,
        "levels": list(model.levels_),
        "thresholds": dict(model.thresholds_),
        "training_sha256": (config.get("training_data") or {}).get("sha256"),
        "in_sample": sample.get("n_feeds", 0) > 0 if sample.get("known") else None,
        "in_sample_feeds": sample,
    }


def article_length_slice(frame: pd.DataFrame, item_feed: np.ndarray) -> np.ndarray:
    """``blurb`` or ``long`` per row, by its article's length (title and body)."""
    articles = feed_texts(frame).articles
    long = np.array([len(a) >= LONG_ARTICLE for a in articles])[item_feed]
    return np.where(long, f"long (>= {LONG_ARTICLE} chars)", f"blurb (< {LONG_ARTICLE} chars)")


def evaluate(
    frame: pd.DataFrame,
    model: RelevanceModel,
    compare: RelevanceModel | None = None,
    meta: Mapping[str, dict] | str | Path | list | None = None,
    slice_by: str | None = None,
    n_resamples: int = 1000,
    seed: int = 0,
    data_sha256: str | None = None,
    labels: Mapping[str, str] | None = None,
    progress: Progress | None = None,
    n_errors: int = N_ERRORS,
    level: str | None = None,
    frozen: Embedder | None = None,
    run: Mapping[str, Any] | None = None,
    split_in_sample: bool = True,
) -> Evaluation:
    """Score every system on ``frame`` (labelled long format) and measure each level.

    Levels: those the labels have (``grade`` gives story and topic, ``label`` story) and
    the model scores. The feeds are embedded once; a ``compare`` model with the same
    embedder reuses those embeddings. ``labels`` names the model folders in the output;
    ``level`` is the headline level (default: the model's); ``frozen``, an encoder, adds
    its zero-shot cosine as a baseline (the packaged MiniLM beside a fine-tuned model);
    ``run`` (command line, time) is recorded as given. Feeds the model was trained on
    are recognised by content and flagged; with ``split_in_sample`` the other feeds are
    also measured on their own (``out_of_sample``). ``progress`` receives an event per step.
    """
    check_frame(frame, need_label=True)
    frame = frame.reset_index(drop=True)
    if isinstance(meta, str | Path | list | tuple):
        meta = read_meta(meta)
    t = targets(frame)
    headline = model.resolve_level(level)
    levels = [lv for lv in t.levels if lv in model.levels_]
    if headline not in levels:
        raise LevelError(
            f"--level {headline}: the data has no {headline} labels (it has "
            f"{' and '.join(t.levels)}); the topic level needs grades (0/1/2)"
        )
    labels = dict(labels or {})
    sha = data_sha256 or frame_sha256(frame)
    feed = frame["feed_id"].astype(str).to_numpy()
    has_compare = compare is not None
    has_frozen = frozen is not None and not _same_embedder(frozen, model.embedder_)
    mask, _ = in_sample(frame, training_texts(model))
    split = bool(split_in_sample and mask is not None and mask.any() and not mask.all())
    n_systems = 3 + has_compare + has_frozen
    steps = 3 + has_compare + len(levels) * (2 + n_systems) + split
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
    probs = {"model": model.level_probabilities_embedded(frame, emb)}
    if compare is not None:
        step("scoring the compared model")
        same = _same_embedder(model.embedder_, compare.embedder_)
        emb_c = emb if same else embed_feeds(frame, _Progressive(compare.embedder_, progress))
        probs["compare"] = compare.level_probabilities_embedded(frame, emb_c)
        advance()
    step("baselines")
    baselines = {"cosine": cosine_scores(emb), "tfidf": tfidf_scores(frame, emb.item_feed)}
    if has_frozen and frozen is not None:
        baselines["cosine_frozen"] = cosine_scores(embed_feeds(frame, frozen))
    advance()
    length = article_length_slice(frame, emb.item_feed)
    extra = slice_values(frame, slice_by, meta) if slice_by is not None else None
    gain = frame[GRADE].to_numpy(dtype=np.int64) if t.grade is not None else None
    per_level: dict[str, LevelEvaluation] = {}
    for lv in levels:
        y = t.of_level(lv)
        scores = {"model": probs["model"][lv]}
        thresholds = {"model": float(model.thresholds_[lv])}
        if compare is not None and lv in probs["compare"]:
            scores["compare"] = probs["compare"][lv]
            thresholds["compare"] = float(compare.thresholds_[lv])
        scores.update(baselines)
        systems: dict[str, Any] = {}
        for name, score in scores.items():
            step(f"{lv}: bootstrap {name}")
            systems[name] = system_metrics(
                y, score, feed, thresholds.get(name), name in thresholds, n_resamples, seed,
                gain if gain is not None else y,
            )  # fmt: skip
            advance()
        step(f"{lv}: paired deltas")
        deltas = {
            name: paired_bootstrap_delta(
                y, scores["model"], score, feed, "average_precision", n_resamples, seed
            )
            for name, score in scores.items()
            if name != "model"
        }
        if "compare" in deltas:
            systems["compare"]["delta_average_precision"] = deltas["compare"]
        advance()
        step(f"{lv}: thresholds, slices and errors")
        doc = {
            "threshold": thresholds["model"],
            "systems": systems,
            "deltas": deltas,
            "threshold_analysis": threshold_analysis(y, scores["model"], thresholds["model"]),
            "slices": {
                "article_length": _slices(
                    "article_length",
                    "article",
                    length,
                    y,
                    feed,
                    scores,
                    thresholds,
                    n_resamples,
                    seed,
                )  # fmt: skip
            },
            "errors": worst_errors(frame, emb, y, scores["model"], thresholds["model"], n_errors),
        }
        if extra is not None:
            values, source = extra
            doc["slices"][slice_by] = _slices(
                slice_by, source, values, y, feed, scores, thresholds, n_resamples, seed
            )
        advance()
        per_level[lv] = LevelEvaluation(
            lv, doc, y, feed, scores, thresholds, _names(scores, model, frozen)
        )
    doc_all: dict[str, Any] = {
        "data": {
            "n_feeds": int(len(np.unique(feed))),
            "n_items": int(len(frame)),
            "n_relevant": int(t.story.sum()),
            "grades": None
            if t.grade is None
            else {str(g): int((t.grade == g).sum()) for g in (0, 1, 2)},
            "sha256": sha,
        },
        "level": headline,
        "levels": {lv: e.metrics for lv, e in per_level.items()},
        "bootstrap": {"n_resamples": n_resamples, "seed": seed, "unit": "feed", "level": 0.95},
        "models": {
            name: _model_info(m, labels.get(name), in_sample(frame, training_texts(m))[1])
            for name, m in (("model", model), ("compare", compare))
            if m is not None
        },
        "run": {
            "relevance": __version__,
            "model_sha256": getattr(model, "identity_", {}).get("sha256"),
            **dict(run or {}),
        },
    }
    if split and mask is not None:
        step("out-of-sample feeds alone")
        alone = evaluate(
            frame[~mask].reset_index(drop=True), model, compare, meta, slice_by, n_resamples,
            seed, None, labels, None, n_errors, level, frozen, None, False,
        )  # fmt: skip
        doc_all["out_of_sample"] = {
            "data": alone.metrics["data"],
            "levels": alone.metrics["levels"],
        }
    step("done")
    advance()
    return Evaluation(doc_all, per_level)


def _names(scores: Mapping[str, np.ndarray], model: RelevanceModel, frozen: Embedder | None):
    """Each system's label, the cosine named with the embedder it uses."""
    names = {n: SYSTEM_NAMES[n] for n in scores}
    if "cosine" in names:
        emb = model.embedder_
        tuned = "fine-tuned " if getattr(model, "config_", {}).get("finetune") else ""
        names["cosine"] = f"cosine, the model's {tuned}embedder ({emb.fingerprint[:8]})"
    return names


def _slices(
    field_name: str,
    source: str,
    values: np.ndarray,
    y: np.ndarray,
    feed: np.ndarray,
    scores: dict[str, np.ndarray],
    thresholds: dict[str, float],
    n_resamples: int,
    seed: int,
) -> dict[str, Any]:
    by_feed = pd.Series(values).groupby(feed).nunique()
    whole_feeds = bool((by_feed <= 1).all())
    rows = slice_metrics(
        y, feed, values, scores, thresholds["model"], whole_feeds, n_resamples, seed
    )
    return {"field": field_name, "source": source, "feed_level": whole_feeds, "rows": rows}
