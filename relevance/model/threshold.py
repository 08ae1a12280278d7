"""Choose the keep/drop threshold from out-of-fold probabilities.

The threshold is trained, never hand-set: it is the point on the out-of-fold
precision-recall curve that best meets the stated objective.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from relevance.model.metrics import threshold_curve

#: What a threshold can be chosen for.
OBJECTIVES = ("f1", "min_precision", "min_recall")


class ObjectiveNotMet(ValueError):
    """The requested precision or recall floor is out of reach on this data."""


@dataclass(frozen=True)
class ThresholdChoice:
    threshold: float
    objective: str
    precision: float
    recall: float
    f1: float

    def to_json(self) -> dict:
        return asdict(self)


def choose_threshold(
    y: np.ndarray,
    p: np.ndarray,
    objective: str = "f1",
    min_precision: float | None = None,
    min_recall: float | None = None,
) -> ThresholdChoice:
    """F1-best threshold, or the best recall (precision) that meets a precision (recall) floor.

    The threshold returned sits halfway between the chosen score and the next lower
    distinct score, so scores equal to the chosen one are kept with a margin.
    """
    y = np.asarray(y, dtype=np.int64)
    p = np.asarray(p, dtype=np.float64)
    if len(y) == 0 or y.min() == y.max():
        raise ValueError("choosing a threshold needs both relevant and off-topic items")
    thresholds, precision, recall, f1 = threshold_curve(y, p)
    if objective == "f1":
        i = int(np.argmax(f1))
    elif objective == "min_precision":
        if min_precision is None:
            raise ValueError("objective 'min_precision' needs min_precision")
        ok = np.flatnonzero(precision >= min_precision)
        if not len(ok):
            raise ObjectiveNotMet(
                f"no threshold reaches out-of-fold precision {min_precision:.3f}; "
                f"the highest reached is {precision.max():.3f}"
            )
        i = int(ok[np.argmax(recall[ok])])
    elif objective == "min_recall":
        if min_recall is None:
            raise ValueError("objective 'min_recall' needs min_recall")
        ok = np.flatnonzero(recall >= min_recall)
        if not len(ok):
            raise ObjectiveNotMet(f"no threshold reaches out-of-fold recall {min_recall:.3f}")
        i = int(ok[np.argmax(precision[ok])])
    else:
        raise ValueError(f"objective {objective!r}, expected f1, min_precision or min_recall")
    lower = thresholds[i + 1] if i + 1 < len(thresholds) else 0.0
    return ThresholdChoice(
        threshold=float((thresholds[i] + lower) / 2),
        objective=objective,
        precision=float(precision[i]),
        recall=float(recall[i]),
        f1=float(f1[i]),
    )
