"""Map head logits to probabilities that mean what they say.

The calibrator is fitted on out-of-fold logits, never on in-sample ones, and the
method is chosen by cross-validated Brier score. A head's logits are sharper on
long articles (more text, more evidence) than on one-line blurbs, so one method,
``sigmoid_length``, lets the slope and offset move with the article's length:
p = sigmoid(a z + b + (c z + d) L), with L the article's "longness" in [0, 1].
"""

from __future__ import annotations

import math

import numpy as np

METHODS = ("sigmoid", "sigmoid_length", "isotonic")
#: Article lengths (characters) at which longness is 0 (a blurb) and 1 (a full article).
BLURB_CHARS, LONG_CHARS = 300, 3000


def longness(chars: np.ndarray) -> np.ndarray:
    """0 for a blurb, 1 for a full article, log-linear between (bounded: no extrapolation)."""
    x = np.log(np.maximum(np.asarray(chars, dtype=np.float64), 1.0))
    lo, hi = math.log(BLURB_CHARS), math.log(LONG_CHARS)
    return np.clip((x - lo) / (hi - lo), 0.0, 1.0)


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function without overflow (what scipy's ``expit`` gives, numpy only)."""
    z = np.asarray(z, dtype=np.float64)
    e = np.exp(-np.abs(z))
    return np.where(z >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


def _finite(name: str, values: object) -> np.ndarray:
    arr = np.asarray(values, dtype=np.float64)
    if not np.all(np.isfinite(arr)):
        raise ValueError(f"calibrator {name}: expected finite numbers, got {values!r}")
    return arr


class Calibrator:
    """One of METHODS; ``length`` (longness per score) is used by ``sigmoid_length`` only."""

    def __init__(self, method: str = "sigmoid"):
        if method not in METHODS:
            raise ValueError(f"calibration method {method!r}, expected one of {METHODS}")
        self.method = method

    def fit(
        self, scores: np.ndarray, y: np.ndarray, length: np.ndarray | None = None
    ) -> Calibrator:
        # Fitting needs scikit-learn; scoring (predict, from_json) needs numpy alone.
        from sklearn.isotonic import IsotonicRegression
        from sklearn.linear_model import LogisticRegression

        scores = np.asarray(scores, dtype=np.float64)
        if self.method == "isotonic":
            iso = IsotonicRegression(out_of_bounds="clip", y_min=0.0, y_max=1.0).fit(scores, y)
            self.x_ = np.asarray(iso.X_thresholds_, dtype=np.float64)
            self.y_ = np.asarray(iso.y_thresholds_, dtype=np.float64)
            return self
        lr = LogisticRegression(C=1e6, max_iter=2000).fit(self._design(scores, length), y)
        coef = lr.coef_.ravel()
        self.a_, self.b_ = float(coef[0]), float(lr.intercept_[0])
        self.c_, self.d_ = (float(coef[1]), float(coef[2])) if len(coef) > 1 else (0.0, 0.0)
        return self

    def _design(self, scores: np.ndarray, length: np.ndarray | None) -> np.ndarray:
        if self.method != "sigmoid_length":
            return scores[:, None]
        if length is None:
            raise ValueError("calibration 'sigmoid_length' needs each item's article length")
        length = np.asarray(length, dtype=np.float64)
        return np.column_stack([scores, scores * length, length])

    def predict(self, scores: np.ndarray, length: np.ndarray | None = None) -> np.ndarray:
        scores = np.asarray(scores, dtype=np.float64)
        if not (hasattr(self, "a_") or hasattr(self, "x_")):
            raise RuntimeError("Calibrator is not fitted")
        if self.method == "isotonic":
            return np.interp(scores, self.x_, self.y_)
        z = self.a_ * scores + self.b_
        if self.method == "sigmoid_length":
            if length is None:
                raise ValueError("calibration 'sigmoid_length' needs each item's article length")
            z = z + (self.c_ * scores + self.d_) * np.asarray(length, dtype=np.float64)
        return sigmoid(z)

    def to_json(self) -> dict:
        if self.method == "isotonic":
            return {"method": "isotonic", "x": self.x_.tolist(), "y": self.y_.tolist()}
        state = {"method": self.method, "a": self.a_, "b": self.b_}
        if self.method == "sigmoid_length":
            state.update(c=self.c_, d=self.d_)
        return state

    @classmethod
    def from_json(cls, state: dict) -> Calibrator:
        """Rebuild from JSON, refusing what could not have been fitted (NaN, unsorted)."""
        if not isinstance(state, dict):
            raise ValueError(f"calibrator: expected an object, got {state!r}")
        cal = cls(state.get("method"))  # type: ignore[arg-type]
        if cal.method == "isotonic":
            cal.x_, cal.y_ = _finite("x", state["x"]), _finite("y", state["y"])
            if cal.x_.ndim != 1 or len(cal.x_) != len(cal.y_) or not len(cal.x_):
                raise ValueError("isotonic calibrator: x and y must be non-empty, same length")
            if np.any(np.diff(cal.x_) < 0) or np.any(np.diff(cal.y_) < 0):
                raise ValueError("isotonic calibrator: x and y must be non-decreasing")
            if cal.y_.min() < 0 or cal.y_.max() > 1:
                raise ValueError("isotonic calibrator: y must lie in [0, 1]")
            return cal
        names = ("a", "b", "c", "d") if cal.method == "sigmoid_length" else ("a", "b")
        values = [float(_finite(k, state[k])) for k in names]
        cal.a_, cal.b_ = values[0], values[1]
        cal.c_, cal.d_ = (values[2], values[3]) if len(values) == 4 else (0.0, 0.0)
        return cal


def cross_fit(
    method: str,
    scores: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    length: np.ndarray | None = None,
    fit_rows: np.ndarray | None = None,
    n_splits: int = 5,
) -> np.ndarray:
    """Calibrated probabilities for every row, each from a calibrator that never saw its group.

    ``fit_rows`` (a mask) restricts what calibrators are fitted on (a conditional stage
    is fitted on its own rows), while every row still gets a probability.
    """
    from sklearn.model_selection import GroupKFold

    out = np.empty(len(scores))
    rows = np.ones(len(scores), dtype=bool) if fit_rows is None else np.asarray(fit_rows)
    splits = min(n_splits, len(np.unique(groups[rows])))
    for train, test in GroupKFold(n_splits=splits).split(scores, y, groups):
        train = train[rows[train]]
        cal = Calibrator(method).fit(
            scores[train], y[train], None if length is None else length[train]
        )
        out[test] = cal.predict(scores[test], None if length is None else length[test])
    return out


def choose_calibration(
    scores: np.ndarray,
    y: np.ndarray,
    groups: np.ndarray,
    length: np.ndarray | None = None,
    fit_rows: np.ndarray | None = None,
    methods: tuple[str, ...] = METHODS,
) -> tuple[str, dict[str, float], np.ndarray]:
    """Pick the method with the lowest cross-fitted Brier score (on ``fit_rows``).

    Returns the method, the Brier score of each method and the chosen method's
    cross-fitted probabilities for every row (honest inputs for choosing a threshold).
    """
    from sklearn.metrics import brier_score_loss

    rows = np.ones(len(scores), dtype=bool) if fit_rows is None else np.asarray(fit_rows)
    briers: dict[str, float] = {}
    probs: dict[str, np.ndarray] = {}
    for method in methods:
        if method == "sigmoid_length" and length is None:
            continue
        probs[method] = cross_fit(method, scores, y, groups, length, rows)
        briers[method] = float(brier_score_loss(y[rows], probs[method][rows]))
    best = min(briers, key=lambda m: (briers[m], METHODS.index(m)))
    return best, briers, probs[best]
