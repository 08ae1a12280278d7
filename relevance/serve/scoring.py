"""The model side of the service: one batch of requests, one ``score_frame`` call.

The requests of a batch are joined into one table of whole feeds (feed ids made unique
per request), scored by ``relevance.batch.score.score_frame`` exactly as ``relevance
score`` scores a chunk, and the answer is cut back into each request's rows.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from relevance.batch.score import score_frame
from relevance.embed.cache import CachedEmbedder
from relevance.io.records import records_frame
from relevance.model.scorer import Scoring
from relevance.persistence import location
from relevance.serve.batcher import Job
from relevance.serve.metrics import Metrics

_WARM_FEED = {
    "feed_id": "warm-up",
    "article": {"title": "Warm-up", "body": "The service loads its encoder. It is ready."},
    "items": [{"id": "1", "title": "The encoder is loaded"}],
}


@dataclass(frozen=True)
class Options:
    """What decides a request's answer besides its feeds; a batch shares one."""

    level: str
    threshold: float | None
    top_k: int | None
    explain: bool


@dataclass
class Scored:
    """One request's rows, with what its batch cost."""

    frame: pd.DataFrame
    batch_feeds: int
    batch_seconds: float


def model_identity(folder: Path, model: Scoring) -> dict:
    """The model's id and sha256 as ``relevance --version`` names it, and what it offers."""
    return {
        **location.model_identity(Path(folder).resolve()),
        "backend": getattr(model.embedder_, "backend", "torch"),
        "levels": list(model.levels_),
        "default_level": model.default_level_,
        "thresholds": dict(model.thresholds_),
    }


class Scorer:
    """Runs batches of validated requests through the model, on the batcher's thread only."""

    def __init__(self, model: Scoring, metrics: Metrics):
        self.model = model
        self.metrics = metrics
        emb = model.embedder_
        self._cached = emb if isinstance(emb, CachedEmbedder) else None
        self._seen = (0, 0)

    def warm_up(self) -> None:
        """Load the encoder's weights and touch every step, without writing to the cache."""
        model = copy.copy(self.model)  # a shallow copy: the same head, the bare encoder
        if self._cached is not None:
            model.embedder_ = self._cached.inner
        frame = records_frame([_WARM_FEED], "warm-up", ["warm-up"])
        score_frame(frame, model)

    def run(self, jobs: list[Job]) -> None:
        """Score a batch (jobs of one ``Options``) and set each job's future."""
        start = time.perf_counter()
        opts: Options = jobs[0].key  # type: ignore[assignment]
        frames: list[pd.DataFrame] = [job.payload for job in jobs]
        if len(frames) == 1:
            combined = frames[0]
        else:  # two requests may use the same feed id: keep their feeds apart
            combined = pd.concat(
                [f.assign(feed_id=f"{j}\x1f" + f["feed_id"]) for j, f in enumerate(frames)],
                ignore_index=True,
            )
        scored = score_frame(
            combined, self.model, opts.level, opts.threshold, opts.top_k, opts.explain
        )
        seconds = time.perf_counter() - start
        feeds = sum(int(f["feed_id"].nunique()) for f in frames)
        self._count(jobs, feeds, len(combined), seconds)  # counted before anyone is answered
        at = 0
        for job, frame in zip(jobs, frames, strict=True):
            part = scored.iloc[at : at + len(frame)].reset_index(drop=True)
            part["feed_id"] = frame["feed_id"].to_numpy()
            at += len(frame)
            job.future.set_result(Scored(part, feeds, seconds))

    def _count(self, jobs: list[Job], feeds: int, items: int, seconds: float) -> None:
        m = self.metrics
        m.batches.inc()
        m.batch_feeds.observe(feeds)
        m.batch_items.observe(items)
        m.batch_seconds.observe(seconds)
        m.feeds.inc(feeds)
        m.items.inc(items)
        for job in jobs:
            if job.started is not None:
                m.queue_wait.observe(max(job.started - job.arrived, 0.0))
        if self._cached is not None:
            hits, misses = self._cached.hits, self._cached.misses
            m.cache_hits.inc(hits - self._seen[0])
            m.cache_misses.inc(misses - self._seen[1])
            self._seen = (hits, misses)
