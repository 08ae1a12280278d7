"""Held-out stories: how a recipe does on stories it never saw, and whether tuning helped.

A fixed share of the groups (stories, topics) is held out, chosen by the sha256 of
their names alone (not the seed, not the file order), so figures are comparable
across runs. A head is fitted on the rest and scored on them; with fine-tuning,
the embedder is tuned on the rest too, and heads on tuned and on frozen embeddings
are compared level by level.
"""

from __future__ import annotations

import hashlib
import logging
import math
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.embed.encoder import Embedder
from relevance.model.estimator import RelevanceModel
from relevance.model.levels import Targets, targets
from relevance.train.checks import DataCheckError, check_folds
from relevance.train.compare import compare_probabilities, summarise_levels
from relevance.train.finetune import Finetuner, FinetuneSettings, training_examples

log = logging.getLogger("relevance.train")

#: Share of groups (stories) held out; same rule as benchmarks/.
HELDOUT_FRACTION = 0.25


def heldout_mask(groups: np.ndarray, fraction: float = HELDOUT_FRACTION) -> np.ndarray:
    """Rows of the held-out groups: the first ``fraction`` of groups in sha256 order.

    Fixed by the group names alone (not the seed or file order), like
    benchmarks/heldout_eval.py, so the figures are comparable across runs.
    """
    names = sorted({str(g) for g in groups}, key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    held = set(names[: math.ceil(fraction * len(names))])
    return np.array([str(g) in held for g in groups])


def check_heldout(t: Targets, groups: np.ndarray, n_splits: int, seed: int) -> None:
    """The split must leave both classes of every level on each side, and enough groups."""
    held = heldout_mask(groups)
    for level in t.levels:
        if len(np.unique(t.of_level(level)[held])) < 2:
            raise DataCheckError(
                "--finetune-embedder: the held-out stories (the first "
                f"{HELDOUT_FRACTION:.0%} of groups by sha256) have one class only at the "
                f"{level} level; add data or group differently"
            )
    try:
        check_folds(t.subset(~held), groups[~held], n_splits, seed)
    except DataCheckError as exc:
        raise DataCheckError(f"--finetune-embedder: in the non-held-out part: {exc}") from None


def heldout_comparison(
    frame: pd.DataFrame,
    groups: np.ndarray,
    frozen: Embedder,
    finetuner: Finetuner,
    settings: FinetuneSettings,
    params: dict,
    wrap: Callable[[Embedder], Embedder],
) -> dict:
    """Tune on the non-held-out stories; score held-out feeds with tuned vs frozen embeddings.

    Both heads are fitted on the same training stories; the comparison is level by level,
    and the tuned embedder is promoted only if it beats the frozen one at every level.
    """
    held = heldout_mask(groups)
    train = frame[~held].reset_index(drop=True)
    test = frame[held].reset_index(drop=True)
    examples = training_examples(train)
    log.info(
        "held-out check: tuning on %d examples from %d groups; %d held-out groups, %d feeds",
        len(examples),
        len(np.unique(groups[~held])),
        len(np.unique(groups[held])),
        test["feed_id"].nunique(),
    )
    t = targets(test)
    feed = test["feed_id"].to_numpy()
    seed = int(params.get("random_state", 0))
    with tempfile.TemporaryDirectory(prefix="relevance-heldout-") as scratch:
        folder = Path(scratch) / "embedder"
        finetuner.tune(examples, folder, settings)
        tuned = finetuner.load(folder)
        tuned_sha = tuned.fingerprint
        scores, thresholds = {}, {}
        for name, embedder in (("frozen", frozen), ("finetuned", wrap(tuned))):
            model = RelevanceModel(embedder=embedder, **params).fit(train, groups=groups[~held])
            scores[name] = model.level_probabilities(test)
            thresholds[name] = model.thresholds_
    result = compare_probabilities(
        t, scores["finetuned"], scores["frozen"], feed,
        (thresholds["finetuned"], thresholds["frozen"]), seed,
    )  # fmt: skip
    verdicts = {}
    for level, c in result["levels"].items():
        lo, hi = c["delta_average_precision"]["ci95"]
        verdicts[level] = "helped" if lo > 0 else "hurt" if hi < 0 else "no clear difference"
    return {
        "split": _split(groups, held, test),
        "n_examples": len(examples),
        "hard_negatives": examples.negatives is not None,
        "tuned_embedder_sha256": tuned_sha,
        "levels": result["levels"],
        "beats": result["beats"],
        "verdicts": verdicts,
    }


def heldout_evaluation(
    frame: pd.DataFrame, groups: np.ndarray, embedder: Embedder, params: dict
) -> dict:
    """The recipe without fine-tuning: a head fitted on the other groups, scored on these."""
    held = heldout_mask(groups)
    train = frame[~held].reset_index(drop=True)
    test = frame[held].reset_index(drop=True)
    model = RelevanceModel(embedder=embedder, **params).fit(train, groups=groups[~held])
    seed = int(params.get("random_state", 0))
    levels = summarise_levels(
        targets(test),
        model.level_probabilities(test),
        test["feed_id"].to_numpy(),
        model.thresholds_,
        seed,
    )
    return {"split": _split(groups, held, test), "levels": levels}


def _split(groups: np.ndarray, held: np.ndarray, test: pd.DataFrame) -> dict:
    return {
        "rule": f"first {HELDOUT_FRACTION:.0%} of groups in sha256 order of their names",
        "n_groups_train": int(len(np.unique(groups[~held]))),
        "n_groups_heldout": int(len(np.unique(groups[held]))),
        "n_feeds_heldout": int(test["feed_id"].nunique()),
        "n_items_heldout": int(len(test)),
        "n_relevant_heldout": int(targets(test).story.sum()),
    }


def heldout_summary(heldout: dict) -> str:
    """One line for a person: per level the held-out AP of both embedders, delta, verdict."""
    parts = []
    for level, c in heldout["levels"].items():
        d = c["delta_average_precision"]
        tuned, frozen = (c[k]["metrics"]["average_precision"] for k in ("new", "old"))
        parts.append(
            f"{level}: AP fine-tuned {tuned:.4f} vs frozen {frozen:.4f}, delta {d['delta']:+.4f} "
            f"(95% CI {d['ci95'][0]:+.4f} to {d['ci95'][1]:+.4f}), {heldout['verdicts'][level]}"
        )
    verdict = "beats the frozen embedder at every level" if heldout["beats"] else "does not beat"
    return "; ".join(parts) + f"; fine-tuned {verdict}"
