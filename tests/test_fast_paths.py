"""The cached and column-wise fast paths give the very bytes of the plain ones."""

import json

import numpy as np
import pandas as pd

import relevance.model.lexical as lexical
from relevance.batch.sinks import encode_jsonl


def test_tfidf_row_cache_gives_the_same_floats(monkeypatch):
    docs = [f"storm {w} in city {i % 7} with river {i % 3}" for i, w in enumerate("abcdefghij")]
    fresh = lexical.TfidfLexicon().fit(docs)
    monkeypatch.setattr(lexical, "ROW_CACHE", 4)  # evictions on every call
    cached = lexical.TfidfLexicon.from_json(fresh.to_json())
    plain = lexical.TfidfLexicon.from_json(fresh.to_json())
    rng = np.random.default_rng(1)
    for _ in range(5):
        items = [docs[i] for i in rng.integers(0, len(docs), 12)] + ["", "unseen words only"]
        feed = rng.integers(0, 3, len(items))
        got = cached.cosine(docs[:3], items, feed)
        plain._rows.clear()  # no cache: analysed from scratch
        assert got.tobytes() == plain.cosine(docs[:3], items, feed).tobytes()
        assert len(cached._rows) <= 4


def test_jsonl_rows_are_json_dumps_bytes():
    frame = pd.DataFrame(
        {
            "feed_id": ["f1", "fé\u2028", 'f"3\\', "f\x00\n"],
            "item_id": ["a", "b", "c", "d"],
            "title": ["x", None, "", "ünï 😀"],
            "probability": [0.1, np.nan, np.inf, 1e-7],
            "relevant": [True, False, np.True_, False],
            "rank": [1, 2, 3, 4],
            "label": pd.array([1, None, 0, pd.NA], dtype="Int64"),
        }
    )
    want = []
    for rec in frame.to_dict("records"):
        rec = {k: v for k, v in rec.items() if not (k == "label" and pd.isna(v))}
        rec.update(probability=float(rec["probability"]), relevant=bool(rec["relevant"]))
        rec.update({k: int(rec[k]) for k in ("rank", "label") if k in rec})
        want.append(json.dumps(rec, ensure_ascii=False))
    assert encode_jsonl(frame) == ("\n".join(want) + "\n").encode("utf-8")
    assert encode_jsonl(frame.iloc[:0]) == b""
