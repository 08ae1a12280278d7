"""Read labelled feed files for training, remembering where every row came from.

The checks need to name a bad row's file and line, and some problems (a feed id
used twice) are only visible with the record each row belongs to, which the
plain long table of ``relevance.inputs`` does not keep.
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.artifacts import sha256_file, sha256_files
from relevance.inputs import detect_format, read_table_located
from relevance.schema import InputError, feeds_to_frame, parse_json_line, read_jsonl_feeds

file_sha256 = sha256_file
data_sha256 = sha256_files  # over every training file's bytes, in the order given


@dataclass
class Labelled:
    """A long-format table plus, per row, its location and the feed record it came from."""

    frame: pd.DataFrame
    where: list[str]  # "file:line 3" (JSONL) or "file:row 5" (CSV/Parquet), per row
    record: np.ndarray  # per row: index of its feed record over all files
    files: list[dict] = field(default_factory=list)  # name, format, sha256, counts


def _jsonl_lines(path: Path) -> list[int]:
    """Line numbers of the non-blank lines: one feed each, as read_jsonl_feeds reads them."""
    opener = gzip.open if path.name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        return [n for n, raw in enumerate(fh, start=1) if raw.strip()]


def _read_one(path: Path, first_record: int) -> tuple[pd.DataFrame, list[str], np.ndarray]:
    fmt = detect_format(path)
    if fmt == "jsonl":
        feeds = read_jsonl_feeds(path, unique_ids=False)  # check_duplicates names both places
        frame = feeds_to_frame(feeds)
        lines = _jsonl_lines(path)
        sizes = [len(f.items) for f in feeds]
        where = [f"{path}:line {n}" for n, k in zip(lines, sizes, strict=True) for _ in range(k)]
        record = np.repeat(np.arange(len(feeds)), sizes) + first_record
        return frame, where, record
    if fmt not in ("csv", "parquet"):
        raise InputError(
            str(path), "-", "<file>", fmt, "labelled feeds as JSONL, CSV or Parquet (not a page)"
        )
    frame, positions = read_table_located(path, fmt)
    kind = "line" if fmt == "csv" else "row"  # CSV: the line a row starts on; Parquet: from 1
    where = [f"{path}:{kind} {p}" for p in positions]
    # One record per distinct (feed id, article): rows repeating a feed's columns agree.
    keys = frame[["feed_id", "article_title", "article_body"]].astype(str).agg("\x1f".join, axis=1)
    codes, _ = pd.factorize(keys, sort=False)
    return frame, where, codes.astype(np.int64) + first_record


def read_labelled(paths: list[str | Path]) -> Labelled:
    """Every file as one long table; the files' order is kept."""
    frames, where, records, files = [], [], [], []
    n_records = 0
    for raw in paths:
        path = Path(raw)
        frame, w, rec = _read_one(path, n_records)
        n_records = int(rec.max()) + 1 if len(rec) else n_records
        frames.append(frame)
        where.extend(w)
        records.append(rec)
        files.append(
            {
                "name": path.name,
                "format": detect_format(path),
                "sha256": file_sha256(path),
                "n_feeds": int(frame["feed_id"].nunique()) if len(frame) else 0,
                "n_items": int(len(frame)),
            }
        )
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    return Labelled(frame.reset_index(drop=True), where, np.concatenate(records), files)


def lookup(record: dict, dotted: str) -> object:
    value: object = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def read_meta(meta: str | Path) -> dict[str, dict]:
    """The meta file's records by feed id."""
    by_feed: dict[str, dict] = {}
    try:
        with open(meta, "rb") as fh:
            lines = fh.readlines()
    except OSError as exc:
        raise InputError(str(meta), "0", "<file>", str(meta), f"a readable file ({exc})") from None
    for lineno, line in enumerate(lines, start=1):
        if line.strip():
            record = parse_json_line(line, str(meta), str(lineno))  # UTF-8, strict JSON
            if not isinstance(record, dict) or "feed_id" not in record:
                raise InputError(str(meta), str(lineno), "feed_id", None, "a feed_id per record")
            by_feed[str(record["feed_id"])] = record
    return by_feed


def load_groups(frame: pd.DataFrame, meta: str | Path | None, group_by: str | None) -> np.ndarray:
    """One group label per row: a column of the data, a field of the meta file, or the feed."""
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
        value = lookup(record, group_by)
        if value is None:
            raise InputError(str(meta), f"feed {feed_id}", group_by, None, "the group field")
        by_feed[feed_id] = str(value)
    missing = sorted(set(frame["feed_id"]) - set(by_feed))
    if missing:
        raise InputError(str(meta), "-", "feed_id", missing[0], "a meta record for every feed")
    return frame["feed_id"].map(by_feed).to_numpy()


def provenance(meta: str | Path | None, feed_ids: list[str]) -> list[dict] | None:
    """Distinct ``provenance`` entries of the meta records of these feeds; None if unknown."""
    if meta is None:
        return None
    records = read_meta(meta)
    seen: dict[str, dict] = {}
    for feed_id in feed_ids:
        value = (records.get(feed_id) or {}).get("provenance")
        if isinstance(value, dict):
            seen.setdefault(json.dumps(value, sort_keys=True), value)
    return [seen[k] for k in sorted(seen)] or None
