"""Who, where and when: the names and numbers an item shares with its article.

A sister event (another rehab, another earthquake) reads like the article's own
story to an embedder; what tells them apart is who, where and when. Names are
capitalised words that are not stop words, and numbers of two or more digits.
Each is weighted by its IDF in the model's fitted TF-IDF vocabulary (a name it
never saw counts as its rarest word), so "Reid" weighs more than "Friday".
Names are extracted once per distinct text (and remembered: texts recur across
chunks); the overlaps are key joins over the whole batch (``relevance.model.ragged``).
"""

from __future__ import annotations

import re
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np

from relevance.model.ragged import Rows, lookup
from relevance.model.stop_words import ENGLISH_STOP_WORDS

NAME_FEATURES = ("names_recall", "names_lead_recall", "names_lead_jaccard", "numbers_recall")
_TOKEN = re.compile(r"[^\W\d_][\w'’\-]*|\d[\d,.]*\d|\d")
#: Capitalised at a sentence start or in a headline without being a name.
_NOT_NAMES = frozenset(ENGLISH_STOP_WORDS) | {"mr", "mrs", "ms", "dr", "said", "says"}
#: Distinct texts whose names are remembered (LRU).
NAME_CACHE = 50_000
#: Names that keep their ids before the ids start over (bounds memory on endless runs).
VOCABULARY = 1_000_000


def names(text: str) -> tuple[str, ...]:
    """Lower-cased names and numbers of ``text``, in first-seen order, each once."""
    out: dict[str, None] = {}
    for tok in _TOKEN.findall(text):
        if tok[0].isdigit():
            tok = tok.replace(",", "").rstrip(".")
            if len(tok) >= 2:
                out.setdefault(tok, None)
        elif tok[0].isupper():
            low = tok.lower().strip("'’-")
            if len(low) >= 2 and low not in _NOT_NAMES:
                out.setdefault(low, None)
    return tuple(out)


class NameExtractor:
    """``names`` behind bounded memos, and the sparse name rows of a batch of texts.

    Names get ids for the extractor's lifetime, so a text recurring across chunks is
    looked up, not analysed again; the ids start over past ``VOCABULARY`` names.
    """

    def __init__(self, capacity: int = NAME_CACHE) -> None:
        self.capacity = capacity
        self._memo: OrderedDict[str, tuple[str, ...]] = OrderedDict()
        self._ids: OrderedDict[str, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._vocab: dict[str, int] = {}
        self._weights: tuple[tuple[dict, float], np.ndarray, np.ndarray] | None = None

    def names(self, text: str) -> tuple[str, ...]:
        """``names(text)``, remembered."""
        return self._names(text)

    def _names(self, text: str) -> tuple[str, ...]:
        found = self._memo.get(text)
        if found is None:
            found = self._memo[text] = names(text)
            if len(self._memo) > self.capacity:
                self._memo.popitem(last=False)
        return found

    def rows(self, texts: Sequence[str]) -> Rows:
        """Each text's names as a row of name ids (sorted, value 1)."""
        if len(self._vocab) > VOCABULARY:
            self._vocab.clear()
            self._ids.clear()
            self._weights = None
        memo, vocab, parts = self._ids, self._vocab, []
        for text in texts:
            row = memo.get(text)
            if row is None:
                found = sorted(vocab.setdefault(n, len(vocab)) for n in self._names(text))
                row = memo[text] = (np.array(found, dtype=np.int64), np.ones(len(found)))
                if len(memo) > self.capacity:
                    memo.popitem(last=False)
            parts.append(row)
        return Rows.stack(parts)

    def weights(self, idf: dict[str, float], rare: float) -> tuple[np.ndarray, np.ndarray]:
        """Per name id: its IDF weight (``rare`` when unknown) and 1 for a number, else 0.

        Kept between calls with the same ``idf`` and ``rare``, and extended for new names."""
        kept = self._weights
        if kept is None or kept[0][0] is not idf or kept[0][1] != rare:
            kept = ((idf, rare), np.zeros(0), np.zeros(0))
        _, weight, number = kept
        new = list(self._vocab)[len(weight) :]
        if new:
            weight = np.concatenate([weight, [idf.get(n, rare) for n in new]])
            number = np.concatenate([number, [float(n[0].isdigit()) for n in new]])
        self._weights = ((idf, rare), weight, number)
        return weight, number


def name_overlap(
    extractor: NameExtractor,
    items: Sequence[str],
    articles: Sequence[str],
    leads: Sequence[str],
    item_feed: np.ndarray,
    idf: dict[str, float],
    rare: float,
) -> dict[str, np.ndarray]:
    """Per item: IDF-weighted share of its names in the article, in the lead; numbers shared.

    ``articles`` and ``leads`` are per feed, indexed by ``item_feed``. An item without
    names gets 0 (its numbers 0.5: no evidence either way); the feed-relative features
    put each value in context.
    """
    unique = list(dict.fromkeys([*items, *articles, *leads]))
    at = {t: i for i, t in enumerate(unique)}
    m = extractor.rows(unique)
    weight, is_number = extractor.weights(idf, rare)
    width = max(len(weight), 1)
    feed = np.asarray(item_feed, dtype=np.int64)

    def row_of(texts: Sequence[str]) -> np.ndarray:
        return np.fromiter((at[t] for t in texts), np.int64, len(texts))

    it, art, lead = row_of(items), row_of(articles)[feed], row_of(leads)[feed]
    owner, pos = m.gather(it)  # every name of every item
    name = m.indices[pos]
    keys = m.keys(width)

    def per_item(values: np.ndarray) -> np.ndarray:
        return np.bincount(owner, weights=values, minlength=len(items))

    def shared_with(rows: np.ndarray) -> np.ndarray:  # 1 where the name is in that text too
        return lookup(keys, m.data, rows[owner] * width + name)

    w = weight[name]
    in_art_mask, in_lead_mask = shared_with(art), shared_with(lead)
    total, in_art, in_lead = per_item(w), per_item(w * in_art_mask), per_item(w * in_lead_mask)
    lead_weight = np.bincount(
        np.repeat(np.arange(len(unique)), np.diff(m.indptr)),
        weights=weight[m.indices],
        minlength=len(unique),
    )
    w_lead = lead_weight[lead]
    n_total, n_shared = per_item(is_number[name]), per_item(is_number[name] * in_art_mask)
    union = total + w_lead - in_lead

    def share(a: np.ndarray, b: np.ndarray, empty: float = 0.0) -> np.ndarray:
        return np.divide(a, b, out=np.full(len(a), empty), where=b > 0)

    return {
        "names_recall": share(in_art, total),
        "names_lead_recall": share(in_lead, total),
        "names_lead_jaccard": share(in_lead, union),
        "numbers_recall": share(n_shared, n_total, 0.5),
    }
