"""The JSON answer of ``POST /v1/score``: feeds, their items as ``relevance score`` writes
them, and the model that scored them.

Values are those of the JSONL output: the same rounded probabilities (written by repr,
as ``json.dumps`` writes floats), ``p_topic`` null for a story-only model, and labels or
grades only where the input gave them.
"""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd

from relevance.io.reading import run_starts
from relevance.io.rejects import jsonable
from relevance.model.scorer import PASSED_THROUGH, SCORE_COLUMNS

_FLOATS = ("probability", "p_story", "p_topic")


def _column(scored: pd.DataFrame, name: str) -> list:
    values = scored[name]
    if name in _FLOATS:
        return [None if v != v else v for v in values.to_numpy(dtype=np.float64).tolist()]
    if name == "relevant":
        return values.to_numpy(dtype=bool).tolist()
    if name == "rank":
        return values.to_numpy(dtype=np.int64).tolist()
    if name in PASSED_THROUGH:
        return [None if v is pd.NA or v is None or v != v else int(v) for v in values]
    return [_plain(v) for v in values.to_numpy(dtype=object)]


def _plain(value: object) -> object:
    """A passed-through value (an explanation) as JSON holds it."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, np.ndarray):
        value = value.tolist()
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return jsonable(value)


def feeds_json(scored: pd.DataFrame) -> list[dict]:
    """``[{"feed_id", "items": [...]}]`` in input order; a feed's rows are contiguous."""
    names = [c for c in scored.columns if c != "feed_id"]
    columns = {name: _column(scored, name) for name in names}
    present = {name: name in PASSED_THROUGH for name in names}
    feed_ids = scored["feed_id"].to_numpy(dtype=object)
    starts = run_starts(feed_ids).tolist()
    ends = [*starts[1:], len(scored)]
    out = []
    for start, end in zip(starts, ends, strict=True):
        items = []
        for i in range(start, end):
            item = {}
            for name in names:
                value = columns[name][i]
                if value is None and present[name]:
                    continue  # no label given for this item: left out, as in JSONL
                item[name] = value
            items.append(item)
        out.append({"feed_id": feed_ids[start], "items": items})
    return out


def encode(feeds: list[dict], model: dict) -> bytes:
    return json.dumps({"feeds": feeds, "model": model}, ensure_ascii=False, allow_nan=False).encode(
        "utf-8"
    )


def answer_columns() -> list[str]:
    """The item fields always present (``feed_id`` is the feed's)."""
    return [c for c in SCORE_COLUMNS if c != "feed_id"]
