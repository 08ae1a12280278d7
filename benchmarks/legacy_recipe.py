"""The previous single-probability recipe, run on its own code (see heldout_eval.py --legacy).

    PYTHONPATH=<worktree of the legacy commit> python benchmarks/legacy_recipe.py DIR [--finetune]

Reads DIR/train.parquet (labelled, with a ``group`` column) and DIR/test.parquet, fits that
version's model (fine-tuning its embedder first with ``--finetune``, as its default was
built), and writes DIR/scores.npy (one probability per test row) and DIR/threshold.json.
"""

from __future__ import annotations

import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd


def main(argv: list[str]) -> int:
    from relevance.cache import cached

    from relevance.embed import SentenceTransformerEmbedder
    from relevance.model import RelevanceModel  # the legacy commit's API

    folder = Path(argv[0])
    train = pd.read_parquet(folder / "train.parquet")
    test = pd.read_parquet(folder / "test.parquet")
    embedder = cached(SentenceTransformerEmbedder())
    with tempfile.TemporaryDirectory() as scratch:
        if "--finetune" in argv:
            from training.finetune import FinetuneSettings, MiniLMFinetuner, training_pairs

            tuner = MiniLMFinetuner()
            anchors, positives = training_pairs(train)
            tuner.tune(anchors, positives, Path(scratch) / "embedder", FinetuneSettings(seed=0))
            embedder = cached(tuner.load(Path(scratch) / "embedder"))
        model = RelevanceModel(embedder=embedder).fit(
            train.drop(columns=["group"]), groups=train["group"].to_numpy()
        )
        scores = model.predict_proba(test)
    np.save(folder / "scores.npy", np.asarray(scores, dtype=np.float64))
    (folder / "threshold.json").write_text(json.dumps(float(model.threshold_)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
