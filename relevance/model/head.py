"""The classifier head: standardised logistic regression, stored as plain JSON.

A linear head on a dozen features is enough once the features are relative to
the feed, and its parameters fit in a few lines of readable JSON.
"""

from __future__ import annotations

import numpy as np


class LogisticHead:
    """Standardise, then L2-regularised logistic regression; ``decision_function`` is the logit."""

    def __init__(self, C: float = 1.0, class_weight: str | None = None):
        self.C = C
        self.class_weight = class_weight

    def fit(self, X: np.ndarray, y: np.ndarray) -> LogisticHead:
        from sklearn.linear_model import LogisticRegression  # training only: scoring needs numpy

        X = np.asarray(X, dtype=np.float64)
        self.mean_ = X.mean(axis=0)
        self.scale_ = X.std(axis=0)
        self.scale_[self.scale_ < 1e-12] = 1.0
        lr = LogisticRegression(C=self.C, class_weight=self.class_weight, max_iter=5000)
        lr.fit((X - self.mean_) / self.scale_, np.asarray(y, dtype=np.int64))
        self.coef_ = lr.coef_.ravel().astype(np.float64)
        self.intercept_ = float(lr.intercept_[0])
        return self

    def decision_function(self, X: np.ndarray) -> np.ndarray:
        if not hasattr(self, "coef_"):
            raise RuntimeError("LogisticHead is not fitted")
        X = np.asarray(X, dtype=np.float64)
        if X.ndim != 2 or X.shape[1] != len(self.coef_):
            raise ValueError(f"expected {len(self.coef_)} features, got shape {X.shape}")
        # The standardisation folded into the weights: one pass over X, no (n, d) copies.
        w = self.coef_ / self.scale_
        return X @ w + (self.intercept_ - float(self.mean_ @ w))

    def to_json(self) -> dict:
        return {
            "kind": "logistic",
            "C": self.C,
            "class_weight": self.class_weight,
            "mean": [float(x) for x in self.mean_],
            "scale": [float(x) for x in self.scale_],
            "coef": [float(x) for x in self.coef_],
            "intercept": self.intercept_,
        }

    @classmethod
    def from_json(cls, state: dict, n_features: int | None = None) -> LogisticHead:
        """Rebuild from JSON, refusing values no fit could give (NaN, zero scale, wrong length)."""
        if not isinstance(state, dict) or state.get("kind") != "logistic":
            kind = state.get("kind") if isinstance(state, dict) else state
            raise ValueError(f"head kind {kind!r}, expected 'logistic'")
        head = cls(C=float(state["C"]), class_weight=state.get("class_weight"))
        arrays = {}
        for key in ("mean", "scale", "coef"):
            value = np.asarray(state[key], dtype=np.float64)
            if value.ndim != 1 or not np.all(np.isfinite(value)):
                raise ValueError(f"head {key}: expected a list of finite numbers")
            arrays[key] = value
        head.mean_, head.scale_, head.coef_ = arrays["mean"], arrays["scale"], arrays["coef"]
        head.intercept_ = float(state["intercept"])
        if not np.isfinite(head.intercept_):
            raise ValueError(f"head intercept: expected a finite number, got {head.intercept_}")
        if not (len(head.mean_) == len(head.scale_) == len(head.coef_)):
            raise ValueError("head state: mean, scale and coef differ in length")
        if n_features is not None and len(head.coef_) != n_features:
            raise ValueError(f"head has {len(head.coef_)} coefficients, expected {n_features}")
        if np.any(head.scale_ <= 0):
            raise ValueError("head scale: expected every value > 0")
        return head
