"""Map head logits to probabilities that mean what they say.

The calibrator is fitted on out-of-fold logits, never on in-sample ones, and
the method (sigmoid or isotonic) is chosen by cross-validated Brier score.
"""

from __future__ import annotations

import numpy as np
from sklearn.isotonic import IsotonicRegression
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.model_selection import GroupKFold

METHODS = ("sigmoid", "isotonic")


class Calibrator:
    def __init__(self, method: str = "sigmoid"):
        if method not in METHODS:
            raise ValueError(f"calibration method {method!r}, expected one of {METHODS}")
        self.method = method

    def fit(self, scores: np.ndarray, y: np.ndarray) -> Calibrator:
        scores = np.asarray(scores, dtype=np.float64)
        if self.method == "sigmoid":
            lr = LogisticRegression(C=1e6, max_iter=1000).fit(scores[:, None], y)
            self.a_, self.b_ = float(lr.coef_[0, 0]), float(lr.intercept_[0])
        else:
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, y)
            self.x_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
            self.y_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
        return self

    def predict(self, scores: np.ndarray) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        if self.method == "sigmoid":
            if not hasattr(self, "a_"):
                raise RuntimeError("Calibrator is not fitted")
            return 1.0 / (1.0 + np.exp(-(self.a_ * scores + self.b_)))
        if not hasattr(self, "x_"):
            raise RuntimeError("Calibrator is not fitted")
        return np.interp(scores, self.x_, self.y_)

    def to_json(self) -> dict:
        if self.method == "sigmoid":
            return {"method": "sigmoid", "a": self.a_, "b": self.b_}
        return {"method": "isotonic", "x": self.x_.tolist(), "y": self.y_.tolist()}

    @classmethod
    def from_json(cls, state: dict) -> Calibrator:
        cal = cls(state["method"])
        if cal.method == "sigmoid":
            cal.a_, cal.b_ = float(state["a"]), float(state["b"])
        else:
            cal.x_ = np.asarray(state["x"], dtype=np.float64)
            cal.y_ = np.asarray(state["y"], dtype=np.float64)
            if len(cal.x_) != len(cal.y_) or not len(cal.x_):
                raise ValueError("isotonic calibrator: x and y must be non-empty, same length")
        return cal


def cross_fit(
    method: str, scores: np.ndarray, y: np.ndarray, groups: np.ndarray, n_splits: int = 5
) -> np.ndarray:
    """Calibrated probabilities where each point's calibrator never saw that point's group."""
    out = np.empty(len(scores))
    splits = min(n_splits, len(np.unique(groups)))
    for train, test in GroupKFold(n_splits=splits).split(scores, y, groups):
        out[test] = Calibrator(method).fit(scores[train], y[train]).predict(scores[test])
    return out


def choose_calibration(
    scores: np.ndarray, y: np.ndarray, groups: np.ndarray
) -> tuple[str, dict[str, float], np.ndarray]:
    """Pick the method with the lower cross-fitted Brier score.

    Returns the method, the Brier score of each method and the chosen method's
    cross-fitted probabilities (honest inputs for choosing a threshold).
    """
    briers: dict[str, float] = {}
    probs: dict[str, np.ndarray] = {}
    for method in METHODS:
        probs[method] = cross_fit(method, scores, y, groups)
        briers[method] = float(brier_score_loss(y, probs[method]))
    best = min(METHODS, key=lambda m: (briers[m], METHODS.index(m)))
    return best, briers, probs[best]
