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

from relevance.io.schema import LABEL, InputError, check_frame
from relevance.io.text import feed_texts
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
    """Labels present and 0/1 on every row, then stored as integers."""
    f = data.frame
    check_frame(f, source=f"{what} data", need_label=False)
    if LABEL not in f.columns:
        raise DataCheckError(f"{what} data has no 'label' column; every item needs a 0/1 label")
    values = pd.to_numeric(f[LABEL].replace("", np.nan), errors="coerce")
    bad = ~values.isin([0, 1])
    if bad.any():
        i = int(np.flatnonzero(bad.to_numpy())[0])
        raise DataCheckError(
            f"{data.where[i]}: item {f['item_id'].iat[i]!r}: field 'label': got "
            f"{f[LABEL].iat[i]!r}, expected 0 or 1 on every {what} item"
        )
    f[LABEL] = values.astype(np.int64)


def check_classes(y: np.ndarray) -> None:
    if len(np.unique(y)) < 2:
        raise DataCheckError(
            f"training data has one class only: all {len(y)} items are labelled {int(y[0])}; "
            "need relevant (1) and off-topic (0) items"
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


def check_folds(y: np.ndarray, groups: np.ndarray, n_splits: int, seed: int) -> None:
    """Enough groups for the folds, and both classes in every fold's training part."""
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
    for k, (train, _) in enumerate(splitter.split(np.zeros((len(y), 1)), y, groups)):
        if len(np.unique(y[train])) < 2:
            raise DataCheckError(
                f"fold {k}: its training part has only label {int(y[train][0])}; "
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


def check_training(data: Labelled) -> np.ndarray:
    """All checks on the training data alone; returns the labels."""
    check_labels(data)
    y = data.frame[LABEL].to_numpy(dtype=np.int64)
    check_classes(y)
    warn_imbalance(y)
    return y


def check_evaluation(evaluation: Labelled, train: Labelled) -> None:
    check_labels(evaluation, "--eval")
    check_leakage(train, evaluation)
