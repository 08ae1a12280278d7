"""Stage 5, batch scoring: one scoring function (``score_frame``), the local streaming engine
(``score_files``) and the Ray engine (``relevance.batch.ray_engine``).

Names are imported on first use, so ``relevance.batch.outputs`` (what the CLI's ``--help``
needs) does not load the engine.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "score_frame": "relevance.batch.score",
    "prepare_model": "relevance.batch.score",
    "cache_stats": "relevance.batch.score",
    "score_files": "relevance.batch.engine",
    "RunSummary": "relevance.batch.engine",
    "state_path": "relevance.batch.state",
    "ids_path": "relevance.batch.state",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'relevance.batch' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
