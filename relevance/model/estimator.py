"""RelevanceModel: embeddings + features -> two calibrated levels -> thresholds -> rank.

A scikit-learn estimator: ``__init__`` stores parameters, ``fit`` validates them before
any work, sets the fitted attributes (``embedder_``, ``head_``, ``lexicon_``,
``thresholds_``, ``levels_``, ``classes_``) and returns self. Training embeds every
text once and fits on arrays. Ranking a table is ``score_frame`` (``score`` is
scikit-learn's name for a metric).
"""

from __future__ import annotations

from collections.abc import Sequence
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
from relevance.io.schema import GRADE, ITEM_EXTRAS, LABEL, check_frame
from relevance.io.text import FeedTexts
from relevance.model import fitting
from relevance.model.calibration import METHODS, longness
from relevance.model.explain import EXPLAIN_COLUMNS, explain
from relevance.model.features import compute_features, feature_names, with_length
from relevance.model.head import LogisticHead
from relevance.model.levels import LEVELS, LevelError, LevelHead, class_probabilities, targets
from relevance.model.lexical import TfidfLexicon
from relevance.model.names import NameExtractor, name_overlap
from relevance.model.rank import rank_within_feed
from relevance.model.similarity import LEAD_SENTENCES, embedding_similarities
from relevance.model.threshold import OBJECTIVES

__all__ = ["SCORE_COLUMNS", "NotFittedError", "RelevanceModel"]

SCORE_COLUMNS = [
    "feed_id", "item_id", "title", "probability", "p_story", "p_topic", "relevant", "rank",
]  # fmt: skip
#: L2 strength of the stage heads: ~60 features, a few thousand items.
DEFAULT_C = 0.1
#: Columns of the input passed through to the output when present: the targets, and the
#: optional item fields (``relevance.io.schema.ITEM_EXTRAS``: module, href, self_link).
PASSED_THROUGH = (LABEL, GRADE, *ITEM_EXTRAS)


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


class RelevanceModel(BaseEstimator):
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
            return self._design(_features(emb, texts, lexicon, names, sims), length)

        oof = fitting.out_of_fold(
            t, groups, length, features, self.C, self.n_splits, self.random_state, self.calibration
        )
        objectives = {level: self.level_objective(level) for level in t.levels}
        choices = fitting.thresholds(oof, t, objectives)
        self.lexicon_ = _fit_lexicon(texts, np.arange(len(frame)), emb.item_feed)
        X = self._design(_features(emb, texts, self.lexicon_, names, sims), length)
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

    # -- scoring -----------------------------------------------------------------

    def __sklearn_is_fitted__(self) -> bool:
        return hasattr(self, "head_")

    def _check_fitted(self) -> None:
        check_is_fitted(self, msg="RelevanceModel is not fitted; call fit() or load a model folder")

    def _encoder(self) -> Embedder:
        """The fitted encoder (a loaded model's, behind the cache when scoring)."""
        self._check_fitted()
        return self.embedder_

    def resolve_level(self, level: str | None) -> str:
        """``level`` or the model's default, refusing a level the model was not trained for."""
        self._check_fitted()
        level = level or self.default_level_
        if level not in LEVELS:
            raise LevelError(f"level {level!r}, expected one of {list(LEVELS)}")
        if level not in self.levels_:
            raise LevelError(
                f"this model has only the {' and '.join(self.levels_)} level: it was trained on "
                "labels without grades; train on graded data (grade 0/1/2) for the topic level"
            )
        return level

    def level_probabilities_embedded(
        self, frame: pd.DataFrame, emb: FeedEmbeddings
    ) -> dict[str, np.ndarray]:
        """Level -> calibrated probability per row, from precomputed embeddings."""
        self._check_fitted()
        texts = emb.texts
        if not hasattr(self, "names_"):
            self.names_ = NameExtractor()
        X = _features(emb, texts, self.lexicon_, self.names_, embedding_similarities(emb))
        length = longness(np.array([len(a) for a in texts.articles]))[emb.item_feed]
        return self.head_.probabilities(self._design(X, length), length)

    def _design(self, X: np.ndarray, length: np.ndarray) -> np.ndarray:
        """The head's design matrix: the features, and their long-article copies if enabled."""
        return with_length(X, length) if self.length_features else X

    def level_probabilities(self, X: pd.DataFrame) -> dict[str, np.ndarray]:
        """Level -> calibrated probability per row of a long-format table."""
        self._check_fitted()
        check_frame(X)
        if not len(X):
            return {level: np.zeros(0) for level in self.levels_}
        return self.level_probabilities_embedded(X, embed_feeds(X, self._encoder()))

    def predict_proba(self, X: pd.DataFrame) -> np.ndarray:
        """``(n_samples, n_classes)`` in the order of ``classes_``.

        Graded models: P(grade 0), P(grade 1), P(grade 2); label-only: P(0), P(1).
        """
        return class_probabilities(self.level_probabilities(X))

    def predict(self, X: pd.DataFrame) -> np.ndarray:
        """The class each level's trained threshold decides: grade 2, 1 or 0 (or label 1/0)."""
        p = self.level_probabilities(X)
        story = p["story"] >= self.thresholds_["story"]
        if "topic" not in p:
            return story.astype(np.int64)
        topic = p["topic"] >= self.thresholds_["topic"]
        return np.where(story, 2, np.where(topic, 1, 0)).astype(np.int64)

    def score_frame(
        self,
        frame: pd.DataFrame,
        level: str | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        explain: bool = False,
    ) -> pd.DataFrame:
        """The ranked, thresholded table: one row per item, in input order (see ``assemble``)."""
        self._check_fitted()
        check_frame(frame)
        if not len(frame):
            empty = {lv: np.zeros(0) for lv in self.levels_}
            return self.assemble(frame, empty, level, threshold, top_k)
        emb = embed_feeds(frame, self._encoder())
        probabilities = self.level_probabilities_embedded(frame, emb)
        why = self.explain_embedded(emb) if explain else None
        return self.assemble(frame, probabilities, level, threshold, top_k, why)

    def rank(
        self,
        article: str | dict,
        items: Sequence[str | dict],
        level: str | None = None,
        top_k: int | None = None,
        threshold: float | None = None,
        explain: bool = False,
    ) -> pd.DataFrame:
        """Score ``items`` against one ``article``, best first (like ``CrossEncoder.rank``).

        The article is a string (its text) or ``{"title", "body"}``; each item a string
        (its headline) or ``{"title", "summary"}`` (an ``id`` is kept when given, else the
        item's position from 0). The table holds every item, ranked by ``level``, with
        both levels' probabilities; ``top_k`` keeps only the first K rows.
        """
        frame = rank_input(article, items)
        scored = self.score_frame(frame, level, threshold, None, explain)
        scored = scored.drop(columns=["feed_id"]).sort_values("rank", kind="stable")
        return scored.head(top_k).reset_index(drop=True) if top_k else scored.reset_index(drop=True)

    def explain_embedded(self, emb: FeedEmbeddings) -> dict[str, np.ndarray]:
        """Per item, the best-matching article passage and the names/terms both share."""
        self._check_fitted()
        if not hasattr(self, "names_"):
            self.names_ = NameExtractor()
        return explain(emb, self.lexicon_, self.names_)

    def assemble(
        self,
        frame: pd.DataFrame,
        probabilities: dict[str, np.ndarray],
        level: str | None = None,
        threshold: float | None = None,
        top_k: int | None = None,
        explanation: dict[str, np.ndarray] | None = None,
    ) -> pd.DataFrame:
        """``SCORE_COLUMNS`` (+ the ``PASSED_THROUGH`` columns it has, + ``passage``/``shared``).

        ``level`` drives ``probability``, ``relevant`` and ``rank``; ``threshold`` replaces
        the level's trained one; ``top_k`` keeps at most that many items per feed (the
        others stay in the table, not relevant). ``p_topic`` is NaN for a story-only model.
        ``explanation`` (``explain_embedded``) adds why each item scored as it did.
        """
        level = self.resolve_level(level)
        cut = self.thresholds_[level] if threshold is None else float(threshold)
        codes, _ = pd.factorize(frame["feed_id"], sort=False)
        p = probabilities[level]
        rank = rank_within_feed(p, codes)
        relevant = p >= cut
        if top_k is not None:
            relevant &= rank <= top_k
        nan = np.full(len(frame), np.nan)
        out = pd.DataFrame(
            {
                "feed_id": frame["feed_id"].to_numpy(),
                "item_id": frame["item_id"].to_numpy(),
                "title": frame["item_title"].to_numpy(),
                "probability": np.round(p, 6),
                "p_story": np.round(probabilities["story"], 6),
                "p_topic": np.round(probabilities.get("topic", nan), 6),
                "relevant": relevant,
                "rank": rank,
            }
        )
        for column in PASSED_THROUGH:
            if column in frame.columns:
                out[column] = frame[column].to_numpy()
        if explanation is not None:
            for column in EXPLAIN_COLUMNS:
                out[column] = explanation[column]
        return out


def rank_input(article: str | dict, items: Sequence[str | dict]) -> pd.DataFrame:
    """The long table of one feed given as strings or dicts (``RelevanceModel.rank``)."""
    from relevance.io.schema import LONG_COLUMNS, InputError
    from relevance.io.text import clean_text

    if isinstance(article, str):
        a_title, a_body = "", article
    elif isinstance(article, dict):
        a_title, a_body = str(article.get("title") or ""), str(article.get("body") or "")
    else:
        raise InputError("rank()", "-", "article", article, "a string or {'title', 'body'}")
    if isinstance(items, str) or not len(items):
        raise InputError("rank()", "-", "items", items, "a non-empty list of strings or dicts")
    rows = []
    for i, item in enumerate(items):
        if isinstance(item, str):
            title, summary, item_id = item, "", str(i)
        elif isinstance(item, dict):
            title = str(item.get("title") or "")
            summary = str(item.get("summary") or "")
            item_id = str(item.get("id", i))
        else:
            raise InputError("rank()", f"item {i}", "items", item, "a string or a dict")
        if not (clean_text(title) or clean_text(summary)):
            raise InputError("rank()", f"item {i}", "items", item, "a non-empty title or summary")
        rows.append(["rank", clean_text(a_title), clean_text(a_body), item_id,
                     clean_text(title), clean_text(summary)])  # fmt: skip
    if not (rows[0][1] or rows[0][2]):
        raise InputError("rank()", "-", "article", article, "a non-empty article")
    ids = [r[3] for r in rows]
    if len(set(ids)) != len(ids):
        raise InputError("rank()", "-", "items.id", ids, "item ids unique within the feed")
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


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


def leads(emb: FeedEmbeddings) -> list[str]:
    """Each article's lead: its first LEAD_SENTENCES sentences (the title among them)."""
    return [" ".join(s[:LEAD_SENTENCES]) for s in emb.article_sentences]


def _features(
    emb: FeedEmbeddings,
    texts: FeedTexts,
    lexicon: TfidfLexicon,
    names: NameExtractor,
    sims: dict[str, np.ndarray],
) -> np.ndarray:
    idf, rare = lexicon.idf()
    overlap = name_overlap(names, texts.items, texts.articles, leads(emb), emb.item_feed, idf, rare)
    lexical = lexicon.cosine(texts.articles, texts.items, emb.item_feed)
    return compute_features(emb, lexical, overlap, sims)


def _fit_lexicon(texts: FeedTexts, rows: np.ndarray, item_feed: np.ndarray) -> TfidfLexicon:
    """TF-IDF fitted on the articles and items of ``rows`` only (no peeking at a test fold)."""
    feeds = np.unique(item_feed[rows])
    return TfidfLexicon().fit([texts.articles[f] for f in feeds] + [texts.items[i] for i in rows])
