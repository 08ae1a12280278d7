"""Checks on training and evaluation data, run before any embedding work.

What any input must satisfy (ids, texts, duplicates) is decided when it is read,
by the same validator as ``relevance score`` (``relevance.train.data``). These are
the checks a model needs on top: labels on every item, both classes, folds that
can be fitted, no text shared with the ``--eval`` data. Embedding and
fine-tuning take minutes, so they all run first; each raises DataCheckError (an
InputError, so the CLI exits 2) naming the file, line or row, and the value.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
from sklearn.model_selection import GroupKFold

from relevance.io.schema import GRADE, LABEL, InputError, check_frame
from relevance.io.text import feed_texts
from relevance.model.levels import Targets, targets
from relevance.train.data import Labelled

log = logging.getLogger("relevance.train")

#: Below this share of relevant items (or above 1 minus it) a warning is printed.
IMBALANCE = 0.05


class DataCheckError(InputError):
    """Training or evaluation data that would give a wrong or misleading model."""

    def __init__(self, message: str):
        ValueError.__init__(self, message)
        self.source, self.where, self.field, self.value, self.expected = "", "", "", None, ""


def _short(text: str, n: int = 80) -> str:
    return repr(text if len(text) <= n else text[: n - 3] + "...")


def check_labels(data: Labelled, what: str = "training") -> None:
    """Grades (0/1/2) on every row, or labels (0/1) on every row: never a mix.

    A grade trains both levels and a label only the story level, so a mix would
    give the topic level only part of the data without saying so.
    """
    f = data.frame
    check_frame(f, source=f"{what} data", need_label=False)
    if GRADE in f.columns and f[GRADE].notna().any():
        missing = f[GRADE].isna().to_numpy()
        if missing.any():
            i, j = int(np.flatnonzero(~missing)[0]), int(np.flatnonzero(missing)[0])
            raise DataCheckError(
                f"{data.where[j]}: item {f['item_id'].iat[j]!r}: field 'grade': got none, "
                f"expected a grade on every {what} item, as at {data.where[i]}: graded and "
                "label-only items cannot be mixed (grade the rest, or train on labels only)"
            )
        values = pd.to_numeric(f[GRADE], errors="coerce")
        bad = ~values.isin([0, 1, 2])
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise DataCheckError(
                f"{data.where[i]}: item {f['item_id'].iat[i]!r}: field 'grade': got "
                f"{f[GRADE].iat[i]!r}, expected 0, 1 or 2 on every {what} item"
            )
        f[GRADE] = values.astype(np.int64)
        f[LABEL] = (f[GRADE] == 2).astype(np.int64)
        return
    if LABEL not in f.columns:
        raise DataCheckError(
            f"{what} data has no 'label' or 'grade' column; every item needs a 0/1 label "
            "(story level) or a 0/1/2 grade (both levels)"
        )
    values = pd.to_numeric(f[LABEL].replace("", np.nan), errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataCheckError(
            f"{data.where[i]}: item {f['item_id'].iat[i]!r}: field 'label': got "
            f"{f[LABEL].iat[i]!r}, expected 0 or 1 on every {what} item"
        )
    f[LABEL] = values.astype(np.int64)


def check_classes(t: Targets) -> None:
    for level in t.levels:
        y = t.of_level(level)
        if len(np.unique(y)) < 2:
            raise DataCheckError(
                f"training data has one class only at the {level} level: all {len(y)} items "
                f"are {'relevant' if y[0] else 'off-topic'} there; need both"
            )


def warn_imbalance(y: np.ndarray, what: str = "training data") -> None:
    share = float(np.mean(y))
    if share < IMBALANCE or share > 1 - IMBALANCE:
        log.warning(
            "warning: %s is strongly imbalanced: %.1f%% of %d items are relevant; "
            "out-of-fold figures and the threshold rest on few %s items",
            what,
            100 * share,
            len(y),
            "relevant" if share < 0.5 else "off-topic",
        )


def check_folds(t: Targets, groups: np.ndarray, n_splits: int, seed: int) -> None:
    """Enough groups for the folds, and both classes of every stage in each fold's training."""
    n_groups = len(np.unique(groups))
    if n_splits < 2:
        raise DataCheckError(f"--folds {n_splits}: cross-validation needs at least 2 folds")
    if n_groups < n_splits:
        raise DataCheckError(
            f"too few groups for the folds: {n_groups} groups for {n_splits} folds "
            "(folds are whole groups, never split items); add data, group by a finer field "
            "or lower --folds"
        )
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    n = len(t.story)
    for k, (train, _) in enumerate(splitter.split(np.zeros((n, 1)), t.story, groups)):
        for stage in t.stages:
            rows, y = t.stage(stage)
            part = y[train[rows[train]]]
            if len(np.unique(part)) < 2:
                only = f"only the value {int(part[0])}" if len(part) else "no items"
                raise DataCheckError(
                    f"fold {k}: its training part has {only} for the {stage} stage; "
                    "add groups with both classes or lower --folds"
                )


def _texts(frame: pd.DataFrame) -> tuple[list[str], list[str]]:
    """Item text and its feed's article text, per row."""
    texts = feed_texts(frame)
    codes, _ = pd.factorize(frame["feed_id"], sort=False)
    return texts.items, [texts.articles[c] for c in codes]


def check_leakage(train: Labelled, evaluation: Labelled) -> None:
    """No cleaned item (or article) text may be in both the training and the --eval data."""
    for kind, pick in (("item", 0), ("article", 1)):
        seen: dict[str, int] = {}
        for i, text in enumerate(_texts(train.frame)[pick]):
            if text:
                seen.setdefault(text, i)
        shared = [(j, t) for j, t in enumerate(_texts(evaluation.frame)[pick]) if t in seen]
        if shared:
            j, text = shared[0]
            i = seen[text]
            n = len({t for _, t in shared})
            raise DataCheckError(
                f"leakage: the {kind} text {_short(text)} is in the training data "
                f"({train.where[i]}, feed {train.frame['feed_id'].iat[i]!r}) and in the --eval "
                f"data ({evaluation.where[j]}, feed {evaluation.frame['feed_id'].iat[j]!r}); "
                f"{n} {kind} text(s) are shared in all. Evaluation must be on unseen text: "
                "remove them from one side"
            )


def check_training(data: Labelled) -> Targets:
    """All checks on the training data alone; returns what the labels say."""
    check_labels(data)
    t = targets(data.frame)
    check_classes(t)
    warn_imbalance(t.story)
    return t


def check_evaluation(evaluation: Labelled, train: Labelled) -> None:
    check_labels(evaluation, "--eval")
    check_leakage(train, evaluation)
