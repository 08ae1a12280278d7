"""RelevanceModel: embeddings + features -> calibrated probability -> threshold -> rank.

A scikit-learn estimator: ``__init__`` stores parameters, ``fit`` validates them, sets
the fitted attributes (``embedder_``, ``head_``, ``calibrator_``, ``lexicon_``,
``threshold_``, ``classes_``) and returns self. Training embeds every text once and
fits on arrays. Ranking a table is ``score_frame`` (``score`` is scikit-learn's name
for a metric).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import GroupKFold
from sklearn.utils._param_validation import (
    HasMethods,
    Interval,
    InvalidParameterError,
    StrOptions,
)
from sklearn.utils.validation import check_is_fitted

from relevance.embed.encoder import (
    Embedder,
    FeedEmbeddings,
    SentenceTransformerEmbedder,
    embed_feeds,
)
from relevance.io.schema import LABEL, check_frame
from relevance.io.text import feed_texts
from relevance.model.calibration import METHODS, Calibrator, choose_calibration, cross_fit
from relevance.model.features import FEATURE_NAMES, compute_features
from relevance.model.head import LogisticHead
from relevance.model.lexical import TfidfLexicon
from relevance.model.rank import rank_within_feed
from relevance.model.threshold import OBJECTIVES, ThresholdChoice, choose_threshold

__all__ = ["SCORE_COLUMNS", "NotFittedError", "RelevanceModel"]

SCORE_COLUMNS = ["feed_id", "item_id", "title", "probability", "relevant", "rank"]


@dataclass
class FitReport:
    """What fitting measured out of fold; saved in the model folder's config."""

    oof_probability: np.ndarray
    oof_logit: np.ndarray
    fold: np.ndarray
    metrics: dict
    calibration_brier: dict[str, float]


class RelevanceModel(BaseEstimator):
    """Scores recommended items against their feed's main article.

    A scikit-learn estimator: ``__init__`` only stores the parameters, ``fit`` validates
    them before any work and sets the ``_``-suffixed attributes (the encoder actually used
    is ``embedder_``; the ``embedder`` parameter is never replaced), and ``clone``,
    ``get_params`` and ``set_params`` work. ``X`` is a long-format table of whole feeds.
    """

    _parameter_constraints: dict = {
        "embedder": [HasMethods(["encode", "count_tokens"]), None],
        "C": [Interval(Real, 0, None, closed="neither")],
        "n_splits": [Interval(Integral, 2, None, closed="left")],
        "objective": [StrOptions(set(OBJECTIVES))],
        "min_precision": [Interval(Real, 0, 1, closed="right"), None],
        "min_recall": [Interval(Real, 0, 1, closed="right"), None],
        "calibration": [StrOptions({"auto", *METHODS})],
        "random_state": [Interval(Integral, 0, None, closed="left")],
    }

    def __init__(
        self,
        embedder: Embedder | None = None,
        C: float = 1.0,
        n_splits: int = 5,
        objective: str = "f1",
        min_precision: float | None = None,
        min_recall: float | None = None,
        calibration: str = "auto",
        random_state: int = 0,
    ):
        self.embedder = embedder
        self.C = C
        self.n_splits = n_splits
        self.objective = objective
        self.min_precision = min_precision
        self.min_recall = min_recall
        self.calibration = calibration
        self.random_state = random_state

    # -- fitting -----------------------------------------------------------------

    def _check_params(self) -> None:
        """The constraints, and the floor an objective needs: checked before any embedding."""
        self._validate_params()
        for objective in ("min_precision", "min_recall"):
            if self.objective == objective and getattr(self, objective) is None:
                raise InvalidParameterError(f"objective {objective!r} needs {objective} set")

    def fit(
        self, X: pd.DataFrame, y: np.ndarray | None = None, groups: np.ndarray | None = None
    ) -> RelevanceModel:
        """Fit on a long-format table; labels from ``y`` or its ``label`` column.

        ``groups`` keep a story inside one fold (default: the feed).
        """
        self._check_params()
        frame = _with_labels(X, y)
        embedder = self.embedder if self.embedder is not None else SentenceTransformerEmbedder()
        return self.fit_embedded(frame, embed_feeds(frame, embedder), groups, embedder)

    def fit_embedded(
        self,
        frame: pd.DataFrame,
        emb: FeedEmbeddings,
        groups: np.ndarray | None = None,
        embedder: Embedder | None = None,
    ) -> RelevanceModel:
        """Fit on precomputed embeddings (the arrays step of ``fit``)."""
        self._check_params()
        y = frame[LABEL].to_numpy(dtype=np.int64)
        if len(np.unique(y)) < 2:
            raise ValueError("training data has one class only; need relevant and off-topic items")
        groups = frame["feed_id"].to_numpy() if groups is None else np.asarray(groups)
        if len(groups) != len(frame):
            raise ValueError(f"groups has {len(groups)} entries for {len(frame)} rows")
        articles, items = emb.texts.articles, emb.texts.items
        n_groups = len(np.unique(groups))
        if n_groups < self.n_splits:
            raise ValueError(
                f"{n_groups} groups is too few for {self.n_splits} folds; "
                "add data or lower n_splits"
            )
        logit = np.empty(len(y))
        fold = np.empty(len(y), dtype=np.int64)
        fold_metrics = []
        baselines = np.empty((len(y), 3))
        splitter = GroupKFold(n_splits=self.n_splits, shuffle=True, random_state=self.random_state)
        for k, (train, test) in enumerate(splitter.split(items, y, groups)):
            X = _features(emb, articles, items, _fit_lexicon(frame.iloc[train]))
            head = LogisticHead(C=self.C).fit(X[train], y[train])
            logit[test] = head.decision_function(X[test])
            fold[test] = k
            baselines[test] = _baseline_scores(X, train, test, y, self.C)
            fold_metrics.append(_fold_metrics(y[test], logit[test]))
        method, briers, oof_prob = self._calibrate(logit, y, groups)
        choice = choose_threshold(y, oof_prob, self.objective, self.min_precision, self.min_recall)
        self.lexicon_ = _fit_lexicon(frame)
        X = _features(emb, articles, items, self.lexicon_)
        self.head_ = LogisticHead(C=self.C).fit(X, y)
        self.calibrator_ = Calibrator(method).fit(logit, y)
        self.threshold_ = choice.threshold
        self.threshold_choice_ = choice
        self.feature_names_ = list(FEATURE_NAMES)
        self.classes_ = np.array([0, 1])
        self.embedder_ = embedder if embedder is not None else self.embedder
        self.report_ = FitReport(
            oof_probability=oof_prob,
            oof_logit=logit,
            fold=fold,
            metrics=_summary_metrics(y, oof_prob, choice, fold_metrics, baselines, fold),
            calibration_brier=briers,
        )
        return self

    def _calibrate(
        self, logit: np.ndarray, y: np.ndarray, groups: np.ndarray
    ) -> tuple[str, dict[str, float], np.ndarray]:
        method, briers, prob = choose_calibration(logit, y, groups)
        if self.calibration != "auto" and self.calibration != method:
            method = self.calibration
            prob = cross_fit(method, logit, y, groups)
        return method, briers, prob

    # -- scoring -----------------------------------------------------------------

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "head_")

    def _check_fitted(self) -> None:
        check_is_fitted(self, msg="RelevanceModel is not fitted; call fit() or load a model folder")

    def _encoder(self) -> Embedder:
        """The fitted encoder (a loaded model's, behind the cache when scoring)."""
        self._check_fitted()
        return self.embedder_

    def relevance_embedded(self, frame: pd.DataFrame, emb: FeedEmbeddings) -> np.ndarray:
        """Calibrated probability of the relevant class per row, from precomputed embeddings."""
        self._check_fitted()
        X = _features(emb, emb.texts.articles, emb.texts.items, self.lexicon_)
        return self.calibrator_.predict(self.head_.decision_function(X))

    def relevance(self, X: pd.DataFrame) -> np.ndarray:
        """Probability that each row's item is on the topic of its feed's article."""
        self._check_fitted()
        check_frame(X)
        if not len(X):
            return np.zeros(0)
        return self.relevance_embedded(X, embed_feeds(X, self._encoder()))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n_samples, 2)``: off-topic and relevant probability, in the order of ``classes_``."""
        p = self.relevance(X)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """1 where the item is kept (its probability reaches the trained threshold), else 0."""
        return (self.relevance(X) >= self.threshold_).astype(np.int64)

    def score_frame(self, frame: pd.DataFrame) -> pd.DataFrame:
        """The ranked, thresholded table: one row per item, in input order."""
        return self.assemble(frame, self.relevance(frame))

    def assemble(self, frame: pd.DataFrame, probability: np.ndarray) -> pd.DataFrame:
        self._check_fitted()
        codes, _ = pd.factorize(frame["feed_id"], sort=False)
        out = pd.DataFrame(
            {
                "feed_id": frame["feed_id"].to_numpy(),
                "item_id": frame["item_id"].to_numpy(),
                "title": frame["item_title"].to_numpy(),
                "probability": np.round(probability, 6),
                "relevant": probability >= self.threshold_,
                "rank": rank_within_feed(probability, codes),
            }
        )
        if LABEL in frame.columns:
            out[LABEL] = frame[LABEL].to_numpy()
        return out


def _with_labels(X: pd.DataFrame, y: np.ndarray | None) -> pd.DataFrame:
    """The table with its labels checked; ``y``, when given, replaces the label column."""
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} labels for {len(X)} rows")
        X = X.assign(**{LABEL: y})
    check_frame(X, need_label=True)
    return X


def _features(
    emb: FeedEmbeddings, articles: list[str], items: list[str], lexicon: TfidfLexicon
) -> np.ndarray:
    return compute_features(emb, lexicon.cosine(articles, items, emb.item_feed))


def _fit_lexicon(frame: pd.DataFrame) -> TfidfLexicon:
    texts = feed_texts(frame)
    articles, items = texts.articles, texts.items
    return TfidfLexicon().fit(articles + items)


_BASELINE_COLUMNS = [FEATURE_NAMES.index("cos_article"), FEATURE_NAMES.index("tfidf")]


def _baseline_scores(
    X: np.ndarray, train: np.ndarray, test: np.ndarray, y: np.ndarray, C: float
) -> np.ndarray:
    """Out-of-fold scores of the baselines: cosine, TF-IDF, and a plain LR on the two."""
    cols = _BASELINE_COLUMNS
    plain = LogisticHead(C=C).fit(X[train][:, cols], y[train])
    return np.column_stack(
        [X[test][:, cols[0]], X[test][:, cols[1]], plain.decision_function(X[test][:, cols])]
    )


def _fold_metrics(y: np.ndarray, logit: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, roc_auc_score

    both = len(np.unique(y)) == 2
    return {
        "average_precision": float(average_precision_score(y, logit)) if both else float("nan"),
        "roc_auc": float(roc_auc_score(y, logit)) if both else float("nan"),
        "n_items": int(len(y)),
    }


def _summary_metrics(
    y: np.ndarray,
    prob: np.ndarray,
    choice: ThresholdChoice,
    folds: list[dict],
    baselines: np.ndarray,
    fold: np.ndarray,
) -> dict:
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    folds = _with_threshold_metrics(folds, y, prob, fold, choice.threshold)
    aps = np.array([f["average_precision"] for f in folds])
    return {
        "oof_average_precision": float(average_precision_score(y, prob)),
        "oof_roc_auc": float(roc_auc_score(y, prob)),
        "oof_brier": float(brier_score_loss(y, prob)),
        "oof_precision": choice.precision,
        "oof_recall": choice.recall,
        "oof_f1": choice.f1,
        "fold_average_precision_mean": float(np.nanmean(aps)),
        "fold_average_precision_std": float(np.nanstd(aps)),
        "folds": folds,
        "fold_spread": _spread(folds),
        "oof_baseline_average_precision": {
            name: float(average_precision_score(y, baselines[:, i]))
            for i, name in enumerate(["cosine", "tfidf", "logreg_cosine_tfidf"])
        },
        "n_items": int(len(y)),
        "n_relevant": int(y.sum()),
    }


FOLD_SPREAD_KEYS = ("average_precision", "roc_auc", "f1", "brier")


def _with_threshold_metrics(
    folds: list[dict], y: np.ndarray, prob: np.ndarray, fold: np.ndarray, threshold: float
) -> list[dict]:
    """Add each fold's F1/precision/recall at the final threshold and its Brier score.

    They use the calibrated out-of-fold probabilities, so a fold's figures say how the
    shipped decision rule did on stories its fold model never saw.
    """
    from relevance.model.metrics import item_metrics

    out = []
    for k, entry in enumerate(folds):
        m = item_metrics(y[fold == k], prob[fold == k], threshold)
        extra = {key: m[key] for key in ("precision", "recall", "f1", "brier")}
        out.append({**entry, **extra, "n_relevant": int(y[fold == k].sum())})
    return out


def _spread(folds: list[dict]) -> dict[str, dict[str, float]]:
    """Mean, std, min and max over folds of each headline metric (nan-aware)."""
    out = {}
    for key in FOLD_SPREAD_KEYS:
        v = np.array([f[key] for f in folds], dtype=np.float64)
        v = v[~np.isnan(v)]
        nan = float("nan")
        out[key] = {
            "mean": float(v.mean()) if v.size else nan,
            "std": float(v.std()) if v.size else nan,
            "min": float(v.min()) if v.size else nan,
            "max": float(v.max()) if v.size else nan,
        }
    return out
