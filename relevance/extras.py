"""Optional dependencies: a missing one is a clear error naming the extra that installs it.

The core install scores; evaluation reports, the onnx-int8 backend, Ray, fine-tuning and
the service are extras (``pip install 'relevance[report]'`` and so on).
"""

from __future__ import annotations

import importlib
from types import ModuleType

#: What each extra is for, for the message.
EXTRAS = {
    "onnx": "the onnx-int8 backend",
    "report": "evaluation reports",
    "ray": "--engine ray",
    "train": "fine-tuning the embedder",
    "serve": "the HTTP service",
}


class MissingExtra(ImportError):
    """An optional dependency is not installed; the CLI exits 2 with this message."""

    def __init__(self, module: str, extra: str):
        self.module, self.extra = module, extra
        super().__init__(
            f"{EXTRAS.get(extra, extra)} needs the Python package {module!r}, which is not "
            f"installed: pip install 'relevance[{extra}]'"
        )


def require(module: str, extra: str) -> ModuleType:
    """Import ``module`` or raise MissingExtra naming ``extra``."""
    try:
        return importlib.import_module(module)
    except ModuleNotFoundError as exc:
        if exc.name is not None and module.split(".")[0] != exc.name.split(".")[0]:
            raise  # the module is there but something it needs is broken: not ours to hide
        raise MissingExtra(module, extra) from None
