"""Is this data what the model was trained on? Recognised by content, not by file bytes.

A model folder written by ``relevance train`` records the digests of its training texts
(``training_texts.json``). A feed whose article is among them is in-sample, whatever file,
format, order or subset it arrives in; its figures say little about new feeds.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from relevance.io.text import feed_texts, text_digest

#: In-sample feed ids listed in metrics.json (the counts are always complete).
LISTED = 20


def in_sample(
    frame: pd.DataFrame, trained_on: dict[str, set[str]] | None
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """(per-row mask of in-sample feeds, or None when unknown; the summary for metrics.json)."""
    if trained_on is None:
        return None, {
            "known": False,
            "why": "the model folder records no training texts (not written by relevance train)",
        }
    texts = feed_texts(frame)
    seen_feed = np.array([text_digest(a) in trained_on["articles"] for a in texts.articles])
    codes, _ = pd.factorize(frame["feed_id"], sort=False)
    rows = seen_feed[codes]
    seen_items = np.array([text_digest(t) in trained_on["items"] for t in texts.items])
    ids = [str(f) for f, s in zip(texts.feed_ids, seen_feed, strict=True) if s]
    return rows, {
        "known": True,
        "n_feeds": int(seen_feed.sum()),
        "n_feeds_total": int(len(seen_feed)),
        "share_feeds": float(seen_feed.mean()) if len(seen_feed) else 0.0,
        "n_items_seen": int(seen_items.sum()),
        "feed_ids": ids[:LISTED],
        "rule": "a feed is in-sample when its article text is among the model's training "
        "texts (sha256 of the cleaned text)",
    }
