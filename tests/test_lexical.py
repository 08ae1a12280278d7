"""The lexical and name features computed with numpy alone match their definitions.

Scoring no longer imports scikit-learn or scipy: TF-IDF rows are computed by the
lexicon itself and overlaps are key joins. These tests hold them to scikit-learn's
``TfidfVectorizer`` and to a plain per-item definition of the name overlaps.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.preprocessing import normalize

from relevance.model.lexical import TfidfLexicon
from relevance.model.names import NameExtractor, name_overlap
from relevance.model.ragged import Rows, lookup
from relevance.model.stop_words import ENGLISH_STOP_WORDS as OURS

WORDS = [
    "Geneva", "talks", "Russia", "Ukraine", "ceasefire", "the", "and", "of", "a", "to", "in",
    "Trump", "stocks", "market", "rally", "naïve", "café", "ÉCOLE", "Zürich", "don't", "it's",
    "co-op", "2024", "3.5", "1,000", "x", "y", "Kyiv's", "Belarus",
]  # fmt: skip


def _texts(rng: np.random.Generator, n: int) -> list[str]:
    out = []
    for _ in range(n):
        words = rng.choice(WORDS, size=int(rng.integers(0, 25)))
        out.append(" ".join(w.upper() if rng.random() < 0.1 else w for w in words))
    return out + ["", "!!", "the and of a"]  # no words, no vocabulary words


def test_stop_words_are_scikit_learns():
    assert OURS == ENGLISH_STOP_WORDS


def test_rows_and_cosine_match_scikit_learn():
    rng = np.random.default_rng(3)
    train = _texts(rng, 60)
    lexicon = TfidfLexicon().fit(train)
    lexicon = TfidfLexicon.from_json(lexicon.to_json())  # the stored form is what scores
    vec = TfidfVectorizer(sublinear_tf=True, stop_words="english")
    vec.vocabulary = lexicon.vocabulary_
    vec.fit(train)  # same vocabulary; idf replaced by the stored (rounded) one below
    vec.idf_ = lexicon.idf_
    texts = _texts(rng, 80)
    expected = normalize(vec.transform(texts)).toarray()
    for text, want in zip(texts, expected, strict=True):
        indices, weights = lexicon.row(text)
        got = np.zeros(len(want))
        got[indices] = weights
        assert np.all(np.diff(indices) > 0)
        np.testing.assert_allclose(got, want, atol=1e-12)
    articles = texts[:9]
    item_feed = rng.integers(len(articles), size=len(texts))
    cos = lexicon.cosine(articles, texts, item_feed)
    np.testing.assert_allclose(cos, (expected * expected[item_feed]).sum(axis=1), atol=1e-12)
    # rows remembered from the first call give the same floats the second time
    np.testing.assert_array_equal(lexicon.cosine(articles, texts, item_feed), cos)


def _reference_overlap(items, articles, leads, item_feed, idf, rare):
    """The name features of one item at a time, from sets of names."""
    ex = NameExtractor()
    out = {k: [] for k in ("names_recall", "names_lead_recall", "names_lead_jaccard")}
    out["numbers_recall"] = []
    for text, f in zip(items, item_feed, strict=True):
        mine, art, lead = set(ex.names(text)), set(ex.names(articles[f])), set(ex.names(leads[f]))

        def weight(names):
            return sum(idf.get(n, rare) for n in names)

        total = weight(mine)
        out["names_recall"].append(weight(mine & art) / total if total else 0.0)
        out["names_lead_recall"].append(weight(mine & lead) / total if total else 0.0)
        union = weight(mine | lead)
        out["names_lead_jaccard"].append(weight(mine & lead) / union if total else 0.0)
        numbers = {n for n in mine if n[0].isdigit()}
        shared = numbers & art
        out["numbers_recall"].append(len(shared) / len(numbers) if numbers else 0.5)
    return {k: np.asarray(v) for k, v in out.items()}


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_name_overlap_matches_its_definition(seed):
    rng = np.random.default_rng(seed)
    pool = [*_texts(rng, 30), "Putin met Zelensky in Geneva on 24 May 2024", "Mr Said Reid"]
    items = list(rng.choice(pool, size=50))
    articles = list(rng.choice(pool, size=6))
    leads = [a[: len(a) // 2] for a in articles]
    item_feed = rng.integers(len(articles), size=len(items))
    idf = {"geneva": 3.0, "putin": 5.0, "2024": 2.0, "russia": 1.5}
    got = name_overlap(NameExtractor(), items, articles, leads, item_feed, idf, 7.0)
    want = _reference_overlap(items, articles, leads, item_feed, idf, 7.0)
    for key, values in want.items():
        np.testing.assert_allclose(got[key], values, atol=1e-12, err_msg=key)


def test_rows_gather_and_lookup():
    rows = Rows.stack([(np.array([1, 4]), np.array([0.5, 0.25])), (np.array([], int), np.zeros(0)),
                       (np.array([0]), np.array([2.0]))])  # fmt: skip
    owner, pos = rows.gather(np.array([2, 0, 1, 0]))
    np.testing.assert_array_equal(owner, [0, 1, 1, 3, 3])
    np.testing.assert_array_equal(rows.indices[pos], [0, 1, 4, 1, 4])
    keys = rows.keys(5)
    np.testing.assert_array_equal(keys, [1, 4, 10])
    found = lookup(keys, rows.data, np.array([4, 10, 3, 99]))
    np.testing.assert_array_equal(found, [0.25, 2, 0, 0])
    assert lookup(np.zeros(0, np.int64), np.zeros(0), np.array([1])).tolist() == [0]


def test_a_reused_extractor_gives_what_a_fresh_one_gives(monkeypatch):
    """Name ids live as long as the extractor (texts recur across chunks) and start over
    past ``VOCABULARY`` names; neither may change a value."""
    import relevance.model.names as names_module

    monkeypatch.setattr(names_module, "VOCABULARY", 22)  # start over now and then
    rng = np.random.default_rng(7)
    pool = [*_texts(rng, 40), "Putin met Zelensky in Geneva on 24 May 2024", "Reid in Ohio"]
    idf = {"geneva": 3.0, "putin": 5.0, "2024": 2.0}
    reused = NameExtractor()
    for _ in range(10):
        items = list(rng.choice(pool, size=30))
        articles = list(rng.choice(pool, size=4))
        leads = [a[:20] for a in articles]
        item_feed = rng.integers(len(articles), size=len(items))
        rare = float(rng.choice([6.0, 7.0]))  # a changed weight for unknown names is applied
        got = name_overlap(reused, items, articles, leads, item_feed, idf, rare)
        want = name_overlap(NameExtractor(), items, articles, leads, item_feed, idf, rare)
        for key in want:
            np.testing.assert_array_equal(got[key], want[key], err_msg=key)
