"""Cross-validated fitting of the level head: out-of-fold logits, calibration, thresholds.

Everything a model says about its own quality comes from here, and all of it is
out of fold: a fold's stage heads never saw its groups (stories), calibrators are
cross-fitted on those logits, and each level's threshold is chosen on the
calibrated out-of-fold probabilities. ``RelevanceModel`` then refits the heads on
everything and keeps the calibrators fitted on the out-of-fold logits.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score
from sklearn.model_selection import GroupKFold

from relevance.model.calibration import Calibrator, choose_calibration, cross_fit
from relevance.model.features import FEATURE_NAMES
from relevance.model.head import LogisticHead
from relevance.model.levels import Targets, compose
from relevance.model.metrics import item_metrics
from relevance.model.threshold import ThresholdChoice, choose_threshold

#: Features whose out-of-fold scores are reported as baselines (no head at all).
BASELINES = {"cosine": "cos_article", "tfidf": "tfidf"}
FOLD_SPREAD_KEYS = ("average_precision", "roc_auc", "f1", "brier")


@dataclass
class OutOfFold:
    """What cross-validation measured; the model's figures and its calibrators come from it."""

    logits: dict[str, np.ndarray]  # stage -> out-of-fold logit per row
    probability: dict[str, np.ndarray]  # level -> calibrated out-of-fold probability per row
    fold: np.ndarray
    baselines: dict[str, np.ndarray]  # name -> out-of-fold score per row
    methods: dict[str, str]  # stage -> calibration method
    briers: dict[str, dict[str, float]]  # stage -> method -> cross-fitted Brier


def out_of_fold(
    t: Targets,
    groups: np.ndarray,
    length: np.ndarray,
    features: Callable[[np.ndarray], np.ndarray],
    C: float,
    n_splits: int,
    seed: int,
    calibration: str,
) -> OutOfFold:
    """Stage logits out of fold; ``features(train_rows)`` builds X with a lexicon from them."""
    n = len(t.story)
    logits = {s: np.empty(n) for s in t.stages}
    fold = np.empty(n, dtype=np.int64)
    baselines = {name: np.empty(n) for name in BASELINES}
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    for k, (train, test) in enumerate(splitter.split(np.zeros(n), t.story, groups)):
        X = features(train)
        for stage in t.stages:
            rows, target = t.stage(stage)
            fit = train[rows[train]]
            logits[stage][test] = (
                LogisticHead(C=C).fit(X[fit], target[fit]).decision_function(X[test])
            )
        for name, column in BASELINES.items():
            baselines[name][test] = X[test, FEATURE_NAMES.index(column)]
        fold[test] = k
    methods, briers, stage_p = {}, {}, {}
    for stage in t.stages:
        rows, target = t.stage(stage)
        method, scores, p = choose_calibration(logits[stage], target, groups, length, rows)
        if calibration != "auto" and calibration != method:
            method, p = (
                calibration,
                cross_fit(calibration, logits[stage], target, groups, length, rows),
            )
        methods[stage], briers[stage], stage_p[stage] = method, scores, p
    return OutOfFold(logits, compose(stage_p), fold, baselines, methods, briers)


def calibrators(oof: OutOfFold, t: Targets, length: np.ndarray) -> dict[str, Calibrator]:
    """Each stage's calibrator, fitted on that stage's out-of-fold logits."""
    out = {}
    for stage in t.stages:
        rows, target = t.stage(stage)
        out[stage] = Calibrator(oof.methods[stage]).fit(
            oof.logits[stage][rows], target[rows], length[rows]
        )
    return out


def thresholds(
    oof: OutOfFold, t: Targets, objectives: dict[str, tuple[str, float | None, float | None]]
) -> dict[str, ThresholdChoice]:
    """Each level's keep/drop threshold, by its own objective, on out-of-fold probabilities."""
    return {
        level: choose_threshold(t.of_level(level), oof.probability[level], *objectives[level])
        for level in t.levels
    }


def summary(oof: OutOfFold, t: Targets, choices: dict[str, ThresholdChoice]) -> dict:
    """Per level: out-of-fold AP, AUC, Brier, the threshold's precision/recall/F1, folds."""
    levels = {}
    for level in t.levels:
        y, p = t.of_level(level), oof.probability[level]
        levels[level] = _level_summary(y, p, choices[level], oof)
    return {"levels": levels, "n_items": int(len(t.story)), "n_relevant": int(t.story.sum())}


def _level_summary(y: np.ndarray, p: np.ndarray, choice: ThresholdChoice, oof: OutOfFold) -> dict:
    folds = []
    for k in np.unique(oof.fold):
        m = oof.fold == k
        both = len(np.unique(y[m])) == 2
        at = item_metrics(y[m], p[m], choice.threshold)
        folds.append(
            {
                "average_precision": float(average_precision_score(y[m], p[m])) if both else None,
                "roc_auc": float(roc_auc_score(y[m], p[m])) if both else None,
                "n_items": int(m.sum()),
                "n_relevant": int(y[m].sum()),
                **{key: at[key] for key in ("precision", "recall", "f1", "brier")},
            }
        )
    return {
        "oof_average_precision": float(average_precision_score(y, p)),
        "oof_roc_auc": float(roc_auc_score(y, p)),
        "oof_brier": float(brier_score_loss(y, p)),
        "oof_ece": float(item_metrics(y, p)["ece"]),
        "oof_precision": choice.precision,
        "oof_recall": choice.recall,
        "oof_f1": choice.f1,
        "folds": folds,
        "fold_spread": _spread(folds),
        "oof_baseline_average_precision": {
            name: float(average_precision_score(y, s)) for name, s in oof.baselines.items()
        },
        "n_items": int(len(y)),
        "n_relevant": int(y.sum()),
    }


def _spread(folds: list[dict]) -> dict[str, dict[str, float | None]]:
    """Mean, std, min and max over folds of each headline metric (folds without one skipped)."""
    out: dict[str, dict[str, float | None]] = {}
    for key in FOLD_SPREAD_KEYS:
        v = np.array([f[key] for f in folds if f[key] is not None], dtype=np.float64)
        v = v[~np.isnan(v)]
        out[key] = {
            stat: (float(fn(v)) if v.size else None)
            for stat, fn in (("mean", np.mean), ("std", np.std), ("min", np.min), ("max", np.max))
        }
    return out
