"""The scoring half of a fitted model: features -> calibrated levels -> threshold -> rank.

``Scoring`` holds every method that scores with fitted attributes (``embedder_``,
``lexicon_``, ``head_``, ``thresholds_``, ``levels_``); ``RelevanceModel`` (the
scikit-learn estimator, in ``relevance.model.estimator``) fits them and
``FittedRelevance`` is what a model folder loads into for scoring alone. This module
needs numpy and pandas but not scikit-learn or scipy, whose imports take seconds, so
a cache-warm batch run does not pay for them.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from relevance.embed.encoder import Embedder, FeedEmbeddings, embed_feeds
from relevance.io.schema import GRADE, ITEM_EXTRAS, LABEL, check_frame
from relevance.io.text import FeedTexts
from relevance.model.calibration import longness
from relevance.model.explain import EXPLAIN_COLUMNS, explain
from relevance.model.features import compute_features, with_length
from relevance.model.levels import LEVELS, LevelError, LevelHead, class_probabilities
from relevance.model.lexical import TfidfLexicon
from relevance.model.names import NameExtractor, name_overlap
from relevance.model.rank import rank_within_feed
from relevance.model.similarity import LEAD_SENTENCES, embedding_similarities

SCORE_COLUMNS = [
    "feed_id", "item_id", "title", "probability", "p_story", "p_topic", "relevant", "rank",
]  # fmt: skip
#: Columns of the input passed through to the output when present: the targets, and the
#: optional item fields (``relevance.io.schema.ITEM_EXTRAS``: module, href, self_link).
PASSED_THROUGH = (LABEL, GRADE, *ITEM_EXTRAS)


class Scoring:
    """Scoring with the fitted attributes; mixed into ``RelevanceModel`` and ``FittedRelevance``."""

    embedder_: Embedder
    lexicon_: TfidfLexicon
    head_: LevelHead
    names_: NameExtractor
    levels_: tuple[str, ...]
    default_level_: str
    thresholds_: dict[str, float]
    length_features: bool

    def _check_fitted(self) -> None:
        """Nothing to check for a loaded model; ``RelevanceModel`` asks scikit-learn."""

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
        X = feature_matrix(emb, texts, self.lexicon_, self.names_, embedding_similarities(emb))
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


class FittedRelevance(Scoring):
    """A fitted model as a model folder loads it for scoring (``load_scorer``).

    It has the fitted attributes and the scoring methods of ``RelevanceModel``, and the
    training parameters as recorded (``params_``); ``load_model`` turns it into the
    estimator, parameters checked, for refitting or ``sklearn.base.clone``.
    """

    def __init__(self, embedder: Embedder, params: dict, length_features: bool) -> None:
        self.embedder = embedder
        self.params_ = dict(params)
        self.length_features = length_features


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


def leads(emb: FeedEmbeddings) -> list[str]:
    """Each article's lead: its first LEAD_SENTENCES sentences (the title among them)."""
    return [" ".join(s[:LEAD_SENTENCES]) for s in emb.article_sentences]


def feature_matrix(
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
