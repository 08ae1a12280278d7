"""Read labelled feed files for training, remembering where every row came from.

The rows come through the same readers and checks as ``relevance score``
(``relevance.io.reader``); the training checks add what a model needs on top
(labels, classes, folds, no leakage) and name a bad row's file and line.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.io.errors import InputError
from relevance.io.files import sha256_file, sha256_files
from relevance.io.meta import MetaPaths, lookup_any, read_meta
from relevance.io.reader import read_located

file_sha256 = sha256_file
data_sha256 = sha256_files  # over every training file's bytes, in the order given


@dataclass
class Labelled:
    """A long-format table plus, per row, where it came from (for the checks' messages)."""

    frame: pd.DataFrame
    where: list[str]  # "file:line 3" (JSONL, CSV) or "file:row 5" (Parquet), per row
    files: list[dict] = field(default_factory=list)  # name, format, sha256, counts


def read_labelled(paths: list[str | Path]) -> Labelled:
    """Every file as one long table, in order, through the scoring readers' checks."""
    located = read_located(list(paths))
    frame = located.frame
    files = []
    for k, (path, fmt) in enumerate(zip(located.paths, located.formats, strict=True)):
        rows = located.file == k
        files.append(
            {
                "name": path.name,
                "format": fmt,
                "sha256": file_sha256(path),
                "n_feeds": int(frame["feed_id"][rows].nunique()),
                "n_items": int(rows.sum()),
            }
        )
    where = [located.where(i) for i in range(len(frame))]
    return Labelled(frame, where, files)


def load_groups(frame: pd.DataFrame, meta: MetaPaths | None, group_by: str | None) -> np.ndarray:
    """One group label per row: a column of the data, a meta field, or the feed.

    ``group_by`` may name several comma-separated meta fields, the first present wins
    (``anchor.story,main.topic`` for two corpora whose meta files differ).
    """
    if group_by is None or group_by == "feed_id":
        return frame["feed_id"].to_numpy()
    if group_by in frame.columns:
        return frame[group_by].astype(str).to_numpy()
    if meta is None:
        raise InputError(
            "<data>", "header", group_by, list(frame.columns), "a column, or --meta FILE"
        )
    by_feed: dict[str, str] = {}
    for feed_id, record in read_meta(meta).items():
        value = lookup_any(record, group_by)
        if value is None:
            raise InputError(str(meta), f"feed {feed_id}", group_by, None, "the group field")
        by_feed[feed_id] = str(value)
    missing = sorted(set(frame["feed_id"]) - set(by_feed))
    if missing:
        raise InputError(str(meta), "-", "feed_id", missing[0], "a meta record for every feed")
    return frame["feed_id"].map(by_feed).to_numpy()


def provenance(meta: MetaPaths | None, feed_ids: list[str]) -> list[dict] | None:
    """Distinct ``provenance`` entries of the meta records of these feeds; None if unknown."""
    if meta is None:
        return None
    records = read_meta(meta)
    seen: dict[str, dict] = {}
    for feed_id in feed_ids:
        record = records.get(feed_id) or {}
        value = record.get("provenance")
        if isinstance(value, dict):
            if "license" not in value and isinstance(record.get("license"), str):
                value = {**value, "license": record["license"]}
            seen.setdefault(json.dumps(value, sort_keys=True), value)
    return [seen[k] for k in sorted(seen)] or None
