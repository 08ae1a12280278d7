"""TF-IDF cosine between an article and its items, with a JSON-serialisable state.

Lexical overlap catches names the embedder blurs (places, people); the IDF
weights are fitted on training texts and stored as plain JSON, never pickled.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
from scipy import sparse
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.preprocessing import normalize

_PARAMS = {"sublinear_tf": True, "stop_words": "english", "lowercase": True}
#: Distinct texts whose TF-IDF rows are kept (LRU): articles and items recur across chunks.
ROW_CACHE = 20_000


class TfidfLexicon:
    """A fitted TF-IDF vocabulary; words unseen in training carry no weight."""

    def __init__(self) -> None:
        self.vectorizer_: TfidfVectorizer | None = None
        self._rows: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._idf: dict[str, float] | None = None

    def fit(self, texts: Sequence[str]) -> TfidfLexicon:
        self.vectorizer_ = TfidfVectorizer(**_PARAMS).fit(list(texts))
        self._rows.clear()
        self._idf = None
        return self

    def _vectorizer(self) -> TfidfVectorizer:
        if self.vectorizer_ is None:
            raise RuntimeError("TfidfLexicon is not fitted; call fit() or from_json()")
        return self.vectorizer_

    def cosine(
        self, articles: Sequence[str], items: Sequence[str], item_feed: np.ndarray
    ) -> np.ndarray:
        """Cosine of each item with its feed's article (``item_feed`` indexes ``articles``)."""
        a = self._unit_rows(articles)
        b = self._unit_rows(items)
        return np.asarray(b.multiply(a[item_feed]).sum(axis=1)).ravel()

    def _unit_rows(self, texts: Sequence[str]) -> sparse.csr_matrix:
        """L2-normalised TF-IDF rows; each distinct text is analysed once (texts recur).

        A row depends on its text alone, so rows cached from earlier calls are
        the same floats a fresh ``transform`` would give.
        """
        vec = self._vectorizer()
        index: dict[str, int] = {}
        rows = [index.setdefault(t, len(index)) for t in texts]
        cache = self._rows
        missing = [t for t in index if t not in cache]
        if missing:
            fresh = normalize(vec.transform(missing))
            for i, text in enumerate(missing):
                lo, hi = fresh.indptr[i], fresh.indptr[i + 1]
                cache[text] = (fresh.indices[lo:hi].copy(), fresh.data[lo:hi].copy())
        parts = []
        for text in index:
            parts.append(cache[text])
            cache.move_to_end(text)
        while len(cache) > ROW_CACHE:
            cache.popitem(last=False)
        indptr = np.zeros(len(parts) + 1, dtype=np.int32)
        np.cumsum([len(ix) for ix, _ in parts], out=indptr[1:])
        unique = sparse.csr_matrix(
            (
                np.concatenate([d for _, d in parts]) if parts else np.zeros(0),
                np.concatenate([ix for ix, _ in parts]) if parts else np.zeros(0, np.int32),
                indptr,
            ),
            shape=(len(parts), len(vec.idf_)),
        )
        return unique if len(index) == len(rows) else unique[rows]

    def idf(self) -> tuple[dict[str, float], float]:
        """Each known word's IDF, and the largest (what a word never seen in training gets)."""
        vec = self._vectorizer()
        if self._idf is None:
            self._idf = {w: float(vec.idf_[i]) for w, i in vec.vocabulary_.items()}
        return self._idf, float(vec.idf_.max()) if len(vec.idf_) else 1.0

    def to_json(self) -> dict:
        vec = self._vectorizer()
        words = sorted(vec.vocabulary_, key=vec.vocabulary_.__getitem__)
        return {
            "params": {k: v for k, v in _PARAMS.items()},
            "vocabulary": words,
            "idf": [round(float(x), 8) for x in vec.idf_],
        }

    @classmethod
    def from_json(cls, state: dict) -> TfidfLexicon:
        words, idf = state["vocabulary"], state["idf"]
        if len(words) != len(idf):
            raise ValueError(f"tfidf state: {len(words)} words but {len(idf)} idf values")
        vec = TfidfVectorizer(**_PARAMS, vocabulary={w: i for i, w in enumerate(words)})
        vec.idf_ = np.asarray(idf, dtype=np.float64)
        self = cls()
        self.vectorizer_ = vec
        return self
