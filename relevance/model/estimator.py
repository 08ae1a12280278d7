"""RelevanceModel: embeddings + features -> two calibrated levels -> thresholds -> rank.

A scikit-learn estimator: ``__init__`` stores parameters, ``fit`` validates them before
any work, sets the fitted attributes (``embedder_``, ``head_``, ``lexicon_``,
``thresholds_``, ``levels_``, ``classes_``) and returns self. Training embeds every
text once and fits on arrays. Ranking a table is ``score_frame`` (``score`` is
scikit-learn's name for a metric).
"""

from __future__ import annotations

from dataclasses import dataclass
from numbers import Integral, Real

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator
from sklearn.exceptions import NotFittedError
from sklearn.utils._param_validation import HasMethods, Interval, InvalidParameterError, StrOptions
from sklearn.utils.validation import check_is_fitted

from relevance.embed.encoder import (
    Embedder,
    FeedEmbeddings,
    SentenceTransformerEmbedder,
    embed_feeds,
)
from relevance.io.schema import GRADE, LABEL, check_frame
from relevance.io.text import FeedTexts
from relevance.model import fitting
from relevance.model.calibration import METHODS, longness
from relevance.model.features import feature_names
from relevance.model.head import LogisticHead
from relevance.model.levels import LEVELS, LevelHead, targets
from relevance.model.lexical import TfidfLexicon
from relevance.model.names import NameExtractor
from relevance.model.scorer import PASSED_THROUGH, SCORE_COLUMNS, Scoring, feature_matrix
from relevance.model.similarity import embedding_similarities
from relevance.model.threshold import OBJECTIVES

__all__ = ["PASSED_THROUGH", "SCORE_COLUMNS", "NotFittedError", "RelevanceModel"]

#: L2 strength of the stage heads: ~60 features, a few thousand items.
DEFAULT_C = 0.1


@dataclass
class FitReport:
    """What fitting measured out of fold; saved in the model folder's config."""

    oof: fitting.OutOfFold
    metrics: dict

    @property
    def calibration_brier(self) -> dict[str, dict[str, float]]:
        return self.oof.briers


def _per_level(value: object, level: str) -> object:
    return value.get(level) if isinstance(value, dict) else value


class RelevanceModel(Scoring, BaseEstimator):
    """Scores recommended items against their feed's main article, at two levels.

    ``story``: the same story or ongoing event. ``topic``: this story or a related one
    (needs graded training data, ``grade`` 0/1/2; ``label`` alone trains ``story``).
    ``objective``, ``min_precision`` and ``min_recall`` are one value for every level or a
    dict by level, e.g. ``objective={"story": "min_precision"}, min_precision={"story": 0.9}``.
    The encoder actually used is ``embedder_``; the ``embedder`` parameter is never replaced.
    """

    _parameter_constraints: dict = {
        "embedder": [HasMethods(["encode", "count_tokens"]), None],
        "C": [Interval(Real, 0, None, closed="neither")],
        "n_splits": [Interval(Integral, 2, None, closed="left")],
        "objective": [StrOptions(set(OBJECTIVES)), dict],
        "min_precision": [Interval(Real, 0, 1, closed="right"), dict, None],
        "min_recall": [Interval(Real, 0, 1, closed="right"), dict, None],
        "calibration": [StrOptions({"auto", *METHODS})],
        "random_state": [Interval(Integral, 0, None, closed="left")],
        "length_features": ["boolean"],
    }

    def __init__(
        self,
        embedder: Embedder | None = None,
        C: float = DEFAULT_C,
        n_splits: int = 5,
        objective: str | dict = "f1",
        min_precision: float | dict | None = None,
        min_recall: float | dict | None = None,
        calibration: str = "auto",
        random_state: int = 0,
        length_features: bool = True,
    ):
        self.embedder = embedder
        self.C = C
        self.n_splits = n_splits
        self.objective = objective
        self.min_precision = min_precision
        self.min_recall = min_recall
        self.calibration = calibration
        self.random_state = random_state
        self.length_features = length_features

    # -- parameters --------------------------------------------------------------

    def level_objective(self, level: str) -> tuple[str, float | None, float | None]:
        """(objective, min_precision, min_recall) that chooses ``level``'s threshold."""
        objective = _per_level(self.objective, level) or "f1"
        floors = (_per_level(self.min_precision, level), _per_level(self.min_recall, level))
        return str(objective), *floors  # type: ignore[return-value]

    def _check_params(self) -> None:
        """The constraints, per-level dicts, and the floor an objective needs: before any work."""
        self._validate_params()
        for name in ("objective", "min_precision", "min_recall"):
            value = getattr(self, name)
            if isinstance(value, dict) and not set(value) <= set(LEVELS):
                raise InvalidParameterError(
                    f"{name}: keys {sorted(value)}, expected levels among {list(LEVELS)}"
                )
        for level in LEVELS:
            objective, min_precision, min_recall = self.level_objective(level)
            if objective not in OBJECTIVES:
                raise InvalidParameterError(
                    f"objective for {level}: {objective!r}, expected one of {list(OBJECTIVES)}"
                )
            for floor, value in (("min_precision", min_precision), ("min_recall", min_recall)):
                if value is not None and not (
                    isinstance(value, Real) and not isinstance(value, bool) and 0 < value <= 1
                ):
                    raise InvalidParameterError(f"{floor} for {level}: {value!r}, expected (0, 1]")
                if objective == floor and value is None:
                    raise InvalidParameterError(
                        f"objective {floor!r} for {level} needs {floor} set for it"
                    )

    # -- fitting -----------------------------------------------------------------

    def fit(
        self, X: pd.DataFrame, y: np.ndarray | None = None, groups: np.ndarray | None = None
    ) -> RelevanceModel:
        """Fit on a long-format table of whole feeds.

        Targets come from its ``grade`` column (0/1/2: both levels) or ``label`` column
        (0/1: the story level only), or from ``y``: 0/1 labels, or grades when it holds a 2.
        ``groups`` keep a story inside one fold (default: the feed).
        """
        self._check_params()
        frame = _with_targets(X, y)
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
        t = targets(frame)
        for level in t.levels:
            if len(np.unique(t.of_level(level))) < 2:
                raise ValueError(
                    f"training data has one class only at the {level} level; "
                    "need relevant and off-topic items"
                )
        groups = frame["feed_id"].to_numpy() if groups is None else np.asarray(groups)
        if len(groups) != len(frame):
            raise ValueError(f"groups has {len(groups)} entries for {len(frame)} rows")
        if len(np.unique(groups)) < self.n_splits:
            raise ValueError(
                f"{len(np.unique(groups))} groups is too few for {self.n_splits} folds; "
                "add data or lower n_splits"
            )
        texts = emb.texts
        sims = embedding_similarities(emb)
        length = longness(np.array([len(a) for a in texts.articles]))[emb.item_feed]
        names = NameExtractor()

        def features(rows: np.ndarray) -> np.ndarray:
            lexicon = _fit_lexicon(texts, rows, emb.item_feed)
            return self._design(feature_matrix(emb, texts, lexicon, names, sims), length)

        oof = fitting.out_of_fold(
            t, groups, length, features, self.C, self.n_splits, self.random_state, self.calibration
        )
        objectives = {level: self.level_objective(level) for level in t.levels}
        choices = fitting.thresholds(oof, t, objectives)
        self.lexicon_ = _fit_lexicon(texts, np.arange(len(frame)), emb.item_feed)
        X = self._design(feature_matrix(emb, texts, self.lexicon_, names, sims), length)
        heads = {}
        for stage in t.stages:
            rows, target = t.stage(stage)
            heads[stage] = LogisticHead(C=self.C).fit(X[rows], target[rows])
        self.head_ = LevelHead(heads, fitting.calibrators(oof, t, length))
        self.levels_ = t.levels
        self.default_level_ = "topic" if "topic" in t.levels else "story"
        self.thresholds_ = {level: c.threshold for level, c in choices.items()}
        self.threshold_choices_ = choices
        self.feature_names_ = feature_names(self.length_features)
        self.classes_ = np.array([0, 1, 2]) if t.grade is not None else np.array([0, 1])
        self.embedder_ = embedder if embedder is not None else self.embedder
        self.names_ = names
        self.report_ = FitReport(oof, fitting.summary(oof, t, choices))
        return self

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "head_")

    def _check_fitted(self) -> None:
        check_is_fitted(self, msg="RelevanceModel is not fitted; call fit() or load a model folder")


def _with_targets(X: pd.DataFrame, y: np.ndarray | None) -> pd.DataFrame:
    """The table with its targets checked; ``y``, when given, replaces label and grade."""
    if y is not None:
        y = np.asarray(y)
        if len(y) != len(X):
            raise ValueError(f"y has {len(y)} targets for {len(X)} rows")
        X = X.drop(columns=[c for c in (LABEL, GRADE) if c in X.columns])
        if np.isin(y, [0, 1]).all():
            X = X.assign(**{LABEL: y})
        else:
            X = X.assign(**{GRADE: y, LABEL: (y == 2).astype(np.int64)})
    check_frame(X, need_label=True)
    return X


def _fit_lexicon(texts: FeedTexts, rows: np.ndarray, item_feed: np.ndarray) -> TfidfLexicon:
    """TF-IDF fitted on the articles and items of ``rows`` only (no peeking at a test fold)."""
    feeds = np.unique(item_feed[rows])
    return TfidfLexicon().fit([texts.articles[f] for f in feeds] + [texts.items[i] for i in rows])
