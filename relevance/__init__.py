"""relevance: score recommended news stories against their main article.

    from relevance import load_model, read_input
    model = load_model("models/default")
    ranked = model.score_frame(read_input("data/seed/page.txt"))

The names below are imported on first use, so ``import relevance`` (and the CLI's
``--help``) does not pay for pandas, scikit-learn or torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

#: Public name -> the module that defines it.
_EXPORTS = {
    "InputError": "relevance.io.errors",
    "ModelLoadError": "relevance.persistence.folder",
    "NotFittedError": "relevance.model.estimator",
    "RelevanceModel": "relevance.model.estimator",
    "FittedRelevance": "relevance.model.scorer",
    "load_model": "relevance.persistence.artifacts",
    "load_scorer": "relevance.persistence.artifacts",
    "save_model": "relevance.persistence.artifacts",
    "read_input": "relevance.io.reader",
    "read_inputs": "relevance.io.reader",
}

__all__ = sorted([*_EXPORTS, "__version__"])


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'relevance' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
