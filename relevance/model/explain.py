"""Why an item scored as it did: the article passage it matched best, and what they share.

``passage`` is the article sentence with the highest embedding cosine with the item;
``shared`` the names and numbers both mention (who, where, when), rarest first, then the
rarest other words both use, up to ``MAX_SHARED``. Both come from what the model scored
on (its embeddings, its name finder and its fitted TF-IDF vocabulary), computed only when
asked for.
"""

from __future__ import annotations

import re

import numpy as np

from relevance.embed.encoder import FeedEmbeddings
from relevance.model.lexical import TfidfLexicon
from relevance.model.names import NameExtractor

MAX_SHARED = 6
EXPLAIN_COLUMNS = ("passage", "shared")
_WORD = re.compile(r"\b\w\w+\b")


def explain(
    emb: FeedEmbeddings, lexicon: TfidfLexicon, names: NameExtractor
) -> dict[str, np.ndarray]:
    """``passage`` and ``shared`` (comma-separated) per item of the embedded table."""
    texts = emb.texts
    idf, rare = lexicon.idf()
    passage = np.empty(len(emb.item_feed), dtype=object)
    seg_order = np.argsort(emb.segment_feed, kind="stable")
    bounds = np.searchsorted(emb.segment_feed[seg_order], np.arange(len(emb.article) + 1))
    for f in range(len(emb.article)):
        rows = np.flatnonzero(emb.item_feed == f)
        segs = seg_order[bounds[f] : bounds[f + 1]]
        sentences = emb.article_sentences[f]
        if not len(rows):
            continue
        if not len(segs):
            passage[rows] = texts.articles[f][:300]
            continue
        best = (emb.items[rows] @ emb.segments[segs].T).argmax(axis=1)
        passage[rows] = [sentences[j] for j in best]
    article_words = [_words(a) for a in texts.articles]
    article_names = [set(names.names(a)) for a in texts.articles]
    shared = np.empty(len(emb.item_feed), dtype=object)
    for i, (text, f) in enumerate(zip(texts.items, emb.item_feed, strict=True)):
        common = [n for n in names.names(text) if n in article_names[f]]
        common.sort(key=lambda n: -idf.get(n, rare))
        both = [w for w in _words(text) & article_words[f] if w in idf and w not in common]
        words = sorted(both, key=lambda w: (-idf[w], w))
        shared[i] = ", ".join((common + words)[:MAX_SHARED])
    return {"passage": passage, "shared": shared}


def _words(text: str) -> set[str]:
    return set(_WORD.findall(text.lower()))
