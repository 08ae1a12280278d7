"""TF-IDF cosine between an article and its items, with a JSON-serialisable state.

Lexical overlap catches names the embedder blurs (places, people); the IDF
weights are fitted on training texts and stored as plain JSON, never pickled.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from relevance.model.ragged import Rows, lookup

_PARAMS = {"sublinear_tf": True, "stop_words": "english", "lowercase": True}
#: scikit-learn's default ``token_pattern``: what its vectorizer counts as a word.
_WORD = re.compile(r"(?u)\b\w\w+\b")
#: Distinct texts whose TF-IDF rows are kept (LRU): articles and items recur across chunks.
ROW_CACHE = 20_000


class TfidfLexicon:
    """A fitted TF-IDF vocabulary; words unseen in training carry no weight.

    Fitted with scikit-learn's ``TfidfVectorizer``; a text's row is computed here the
    way its ``transform`` computes it (lower-cased words of its token pattern, counts
    of vocabulary words, 1 + log(count) times IDF, unit length), so that scoring needs
    numpy alone. Stop words need no list at scoring time: fitting left them out of the
    vocabulary. ``tests/test_lexical.py`` holds the rows to scikit-learn's.
    """

    def __init__(self) -> None:
        self.vocabulary_: dict[str, int] | None = None
        self.idf_: np.ndarray | None = None
        self._rows: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._idf: dict[str, float] | None = None

    def fit(self, texts: Sequence[str]) -> TfidfLexicon:
        from sklearn.feature_extraction.text import TfidfVectorizer  # training only

        vec = TfidfVectorizer(**_PARAMS).fit(list(texts))
        self.vocabulary_ = {str(w): int(i) for w, i in vec.vocabulary_.items()}
        self.idf_ = np.asarray(vec.idf_, dtype=np.float64)
        self._rows.clear()
        self._idf = None
        return self

    def _fitted(self) -> tuple[dict[str, int], np.ndarray]:
        if self.vocabulary_ is None or self.idf_ is None:
            raise RuntimeError("TfidfLexicon is not fitted; call fit() or from_json()")
        return self.vocabulary_, self.idf_

    def row(self, text: str) -> tuple[np.ndarray, np.ndarray]:
        """(sorted vocabulary indices, unit-length TF-IDF weights) of one text."""
        vocabulary, idf = self._fitted()
        counts: dict[int, int] = {}
        for word in _WORD.findall(text.lower()):
            j = vocabulary.get(word)
            if j is not None:
                counts[j] = counts.get(j, 0) + 1
        indices = np.fromiter(sorted(counts), dtype=np.int64, count=len(counts))
        tf = np.log(np.fromiter((counts[j] for j in indices), np.float64, len(indices))) + 1.0
        weights = tf * idf[indices]
        norm = float(np.sqrt(weights @ weights))
        return indices, weights / norm if norm > 0 else weights

    def cosine(
        self, articles: Sequence[str], items: Sequence[str], item_feed: np.ndarray
    ) -> np.ndarray:
        """Cosine of each item with its feed's article (``item_feed`` indexes ``articles``)."""
        vocabulary, _ = self._fitted()
        width = max(len(vocabulary), 1)
        a_rows, a_of = self._unit_rows(articles)
        b_rows, b_of = self._unit_rows(items)
        owner, pos = b_rows.gather(b_of)
        wanted = a_of[np.asarray(item_feed, dtype=np.int64)][owner] * width + b_rows.indices[pos]
        shared = lookup(a_rows.keys(width), a_rows.data, wanted)
        return np.bincount(owner, weights=b_rows.data[pos] * shared, minlength=len(items))

    def _unit_rows(self, texts: Sequence[str]) -> tuple[Rows, np.ndarray]:
        """The rows of the distinct texts, and which row each text has.

        A row depends on its text alone, so rows remembered from earlier calls are
        the same floats a fresh computation would give.
        """
        index: dict[str, int] = {}
        of = np.fromiter((index.setdefault(t, len(index)) for t in texts), np.int64, len(texts))
        cache = self._rows
        parts = []
        for text in index:
            found = cache.get(text)
            if found is None:
                found = cache[text] = self.row(text)
            else:
                cache.move_to_end(text)
            parts.append(found)
        while len(cache) > ROW_CACHE:
            cache.popitem(last=False)
        return Rows.stack(parts), of

    def idf(self) -> tuple[dict[str, float], float]:
        """Each known word's IDF, and the largest (what a word never seen in training gets)."""
        vocabulary, idf = self._fitted()
        if self._idf is None:
            self._idf = {w: float(idf[i]) for w, i in vocabulary.items()}
        return self._idf, float(idf.max()) if len(idf) else 1.0

    def to_json(self) -> dict:
        vocabulary, idf = self._fitted()
        words = sorted(vocabulary, key=vocabulary.__getitem__)
        return {
            "params": {k: v for k, v in _PARAMS.items()},
            "vocabulary": words,
            "idf": [round(float(x), 8) for x in idf],
        }

    @classmethod
    def from_json(cls, state: dict) -> TfidfLexicon:
        words, idf = state["vocabulary"], state["idf"]
        if len(words) != len(idf):
            raise ValueError(f"tfidf state: {len(words)} words but {len(idf)} idf values")
        self = cls()
        self.vocabulary_ = {w: i for i, w in enumerate(words)}
        self.idf_ = np.asarray(idf, dtype=np.float64)
        return self
