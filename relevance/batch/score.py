"""Scoring a table of whole feeds: the one function every engine calls, and the model it needs.

``score_frame`` is the only place a table gets scored; the local engine
(``relevance.batch.engine``) and the Ray engine (``relevance.batch.ray_engine``) both call
it on chunks of whole feeds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from relevance.embed.cache import CachedEmbedder
from relevance.embed.encoder import embed_feeds
from relevance.io.schema import check_frame
from relevance.model.explain import EXPLAIN_COLUMNS
from relevance.model.scorer import Scoring

#: Vectors kept in memory in front of the on-disk cache while scoring (~30 MB at d=384).
SCORING_LRU = 20_000


def score_frame(
    frame: pd.DataFrame,
    model: Scoring,
    level: str | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    explain: bool = False,
) -> pd.DataFrame:
    """Score a table of whole feeds: every distinct text of all its feeds in ONE encode call.

    Rows come back in input order with ``SCORE_COLUMNS`` (and ``label``/``grade`` when
    the input has them); ``level``, ``threshold`` and ``top_k`` as in
    ``RelevanceModel.assemble``; ``explain`` adds ``passage`` and ``shared``.
    """
    check_frame(frame)
    if not len(frame):
        empty = {level: np.zeros(0) for level in model.levels_}
        nothing = {c: np.zeros(0, dtype=object) for c in EXPLAIN_COLUMNS} if explain else None
        return model.assemble(frame, empty, level, threshold, top_k, nothing)
    emb = embed_feeds(frame, model.embedder_)
    probabilities = model.level_probabilities_embedded(frame, emb)
    _all_finite(frame, probabilities)
    why = model.explain_embedded(emb) if explain else None
    return model.assemble(frame, probabilities, level, threshold, top_k, why)


def _all_finite(frame: pd.DataFrame, probabilities: dict[str, np.ndarray]) -> None:
    """A NaN probability is a fault upstream (encoder, model), never an output row."""
    for level, p in probabilities.items():
        bad = ~np.isfinite(p)
        if bad.any():
            i = int(np.argmax(bad))
            raise RuntimeError(
                f"internal error: non-finite p_{level} for feed {frame['feed_id'].iloc[i]!r} "
                f"item {frame['item_id'].iloc[i]!r} ({int(bad.sum())} rows); nothing written"
            )


def prepare_model(
    model_dir: str | Path | None = None,
    backend: str | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    embedder: object | None = None,
) -> Scoring:
    """Load a model folder for a backend, the persistent embedding cache in front.

    The encoder itself stays unloaded until a text misses the cache; a bigger in-memory
    LRU than the API's default keeps a batch run's recurring texts off SQLite.
    """
    from relevance.embed.cache import CachedEmbedder
    from relevance.persistence.artifacts import load_scorer

    model = load_scorer(
        model_dir,
        embedder=embedder,  # type: ignore[arg-type]
        backend=backend,
        cache=use_cache,
        cache_dir=cache_dir,
    )
    if isinstance(model.embedder_, CachedEmbedder):
        model.embedder_.in_memory = SCORING_LRU
    return model


def cache_stats(model: Scoring) -> tuple[int | None, float | None]:
    """(texts actually encoded, cache hit rate), when the model's embedder is cached."""
    emb = model.embedder_
    if isinstance(emb, CachedEmbedder):
        return emb.encoded, emb.hit_rate
    return None, None
