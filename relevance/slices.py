"""Slice values for evaluation: a data column, or a field of a per-feed meta record.

The dev meta file keeps feed facts under ``anchor`` and item facts in ``items[*]`` (matched
by item ``id``), so one dotted name must reach either level; the rule is fixed per field,
never per record, so a slice means the same thing on every row.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from relevance.schema import InputError

MISSING = "(missing)"


def read_meta(path: str | Path) -> dict[str, dict]:
    """Meta JSONL (one record per feed_id) keyed by feed id."""
    out: dict[str, dict] = {}
    with open(path, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(str(path), str(lineno), "<json>", line[:60], exc.msg) from None
            if not isinstance(record, dict) or "feed_id" not in record:
                raise InputError(str(path), str(lineno), "feed_id", None, "a record per feed")
            out[str(record["feed_id"])] = record
    return out


def _lookup(record: Any, dotted: str) -> Any:
    for part in dotted.split("."):
        if not isinstance(record, dict) or part not in record:
            return None
        record = record[part]
    return record


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
    if not by.startswith("items.") and any(_lookup(r, by) is not None for r in meta.values()):
        return np.array([_text(_lookup(r, by)) for r in records], dtype=object), "feed"
    by_item: dict[tuple[str, str], Any] = {}
    for fid, record in meta.items():
        for item in record.get("items") or []:
            if isinstance(item, dict) and "id" in item:
                by_item[(fid, str(item["id"]))] = _lookup(item, path)
    if not any(v is not None for v in by_item.values()):
        raise InputError("<meta>", "-", by, None, "a field of the meta records or of their items")
    keys = zip(frame["feed_id"].astype(str), frame["item_id"].astype(str), strict=True)
    return np.array([_text(by_item.get(k)) for k in keys], dtype=object), "item"
