"""``relevance`` with the fake encoder, to run the real CLI in a subprocess without MiniLM.

Usage: ``python tests/fake_cli.py score ...`` (any ``relevance`` arguments). A model
folder saved from a fake-fitted model records the fake encoder's fingerprint; here
``prepare_model`` is given that encoder instead of loading MiniLM. ``FAKE_DELAY``
(seconds) slows each encode call, so a test can interrupt a run part way.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))

from fakes import FakeEmbedder  # noqa: E402

import relevance.batch as batch  # noqa: E402


class SlowFake(FakeEmbedder):
    """The fake encoder, ``FAKE_DELAY`` seconds slower per call."""

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        time.sleep(float(os.environ.get("FAKE_DELAY", "0")))
        return super().encode(texts)


_prepare = batch.prepare_model


def prepare_fake(model_dir, backend=None, cache_dir=None, use_cache=True, embedder=None):
    """``prepare_model`` with the fake encoder in place of the folder's own."""
    return _prepare(model_dir, backend, cache_dir, use_cache, embedder=embedder or SlowFake())


def main(argv: list[str] | None = None) -> int:
    from relevance.cli import main as cli_main

    batch.prepare_model = prepare_fake
    try:
        return cli_main(argv)
    finally:
        batch.prepare_model = _prepare


if __name__ == "__main__":
    sys.exit(main())
