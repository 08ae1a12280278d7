"""Slice values for evaluation: a data column, or a field of a per-feed meta record.

The dev meta file keeps feed facts under ``anchor`` and item facts in ``items[*]`` (matched
by item ``id``), so one dotted name must reach either level; the rule is fixed per field,
never per record, so a slice means the same thing on every row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from relevance.io.errors import InputError
from relevance.io.meta import lookup

MISSING = "(missing)"


def _text(value: Any) -> str:
    if value is None:
        return MISSING
    if isinstance(value, list):
        return ", ".join(_text(v) for v in value) if value else MISSING
    if isinstance(value, dict):
        return json.dumps(value, sort_keys=True, ensure_ascii=False)
    return str(value)


def slice_values(
    frame: pd.DataFrame, by: str, meta: Mapping[str, dict] | None = None
) -> tuple[np.ndarray, str]:
    """One slice value per row, and where it came from (``column``, ``feed`` or ``item``).

    Resolution, decided once for the whole field, not per record:
    1. a column of the data;
    2. a dotted path into the feed's meta record (``anchor.category``): feed level;
    3. a dotted path into the meta record's ``items[*]`` entry whose ``id`` is the row's
       item id (``relation``, ``category``; ``items.relation`` forces this level).
    A record or item without the field gives the value ``(missing)``.
    """
    if by in frame.columns:
        return frame[by].map(_text).to_numpy(dtype=object), "column"
    if meta is None:
        raise InputError("<data>", "header", by, list(frame.columns), "a column, or --meta FILE")
    records = [meta.get(str(f)) for f in frame["feed_id"]]
    absent = [f for f, r in zip(frame["feed_id"], records, strict=True) if r is None]
    if absent:
        raise InputError("<meta>", "-", "feed_id", absent[0], "a meta record for every feed")
    path = by.removeprefix("items.")
    if not by.startswith("items.") and any(lookup(r, by) is not None for r in meta.values()):
        return np.array([_text(lookup(r, by)) for r in records], dtype=object), "feed"
    by_item: dict[tuple[str, str], Any] = {}
    for fid, record in meta.items():
        for item in record.get("items") or []:
            if isinstance(item, dict) and "id" in item:
                by_item[(fid, str(item["id"]))] = lookup(item, path)
    if not any(v is not None for v in by_item.values()):
        raise InputError("<meta>", "-", by, None, "a field of the meta records or of their items")
    keys = zip(frame["feed_id"].astype(str), frame["item_id"].astype(str), strict=True)
    return np.array([_text(by_item.get(k)) for k in keys], dtype=object), "item"
