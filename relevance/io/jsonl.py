"""JSONL feeds (plain or gzip), one feed per line, read into long-format blocks.

Each line is decoded (UTF-8, strict JSON) and checked by the feed schema; its good
items become rows. Bad lines and items go to the run's error policy.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from relevance.io.errors import InputError
from relevance.io.jsonl_arrow import read_block
from relevance.io.limits import bounded_lines, overlong
from relevance.io.reading import POS, UNIT, Cleaner, Reading, Source, duplicate
from relevance.io.schema import (
    GRADE,
    ITEM_EXTRAS,
    LABEL,
    LONG_COLUMNS,
    check_feed,
    parse_json_line,
)

if TYPE_CHECKING:
    from relevance.io.feed_model import Feed


def open_lines(path: Path):
    return gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")


def _raw_line(raw: bytes) -> str:
    return raw.rstrip(b"\r\n").decode("utf-8", "backslashreplace")


def _jsonl_feed(raw: bytes, source: str, lineno: int, unit: int, rd: Reading) -> Feed | None:
    """One line as a feed of its good items, or None; every problem goes to the policy."""
    where = f"{lineno}"
    record: object = _raw_line(raw)
    try:
        record = parse_json_line(raw, source, where)
        check = check_feed(record, source, where, rd.clean)
    except InputError as err:
        feed_id = record.get("feed_id") if isinstance(record, dict) else None
        rd.rejects(err, "feed", unit, record, feed_id if isinstance(feed_id, str) else None)
        return None
    feed = check.feed
    if feed.items and not rd.accept(feed.feed_id):  # the whole line once, not its items too
        rd.rejects(duplicate(source, where, feed.feed_id), "feed", unit, record, feed.feed_id)
        return None
    items = record["items"]  # type: ignore[index]
    for i, err in check.problems:
        item_id = items[i].get("id") if isinstance(items[i], dict) else None
        item_id = item_id if isinstance(item_id, str) else None
        rd.rejects(err, "item", unit, items[i], feed.feed_id, item_id)
    if not feed.items:
        return None  # every item was set aside, each with its reason
    return feed


#: Bytes of JSONL read as one block at most (a block of long articles stays bounded).
BLOCK_BYTES = 32 * 1024 * 1024


def read_blocks(src: Source, rd: Reading, block_rows: int) -> Iterator[pd.DataFrame]:
    """Blocks of up to ``block_rows // 20`` feeds (the lines ``--resume`` skips not counted).

    A block of clean lines is read by pyarrow (``relevance.io.jsonl_arrow``); any other
    block line by line, where every problem is named.
    """
    feeds_per_block = max(1, block_rows // 20)
    source, lines, lineno = str(src.path), 0, 0
    pending: list[tuple[int, bytes, bool]] = []
    size = 0
    try:
        with open_lines(src.path) as fh:
            for lineno, (raw, too_long) in enumerate(bounded_lines(fh), start=1):
                if not too_long and not raw.strip():
                    continue
                lines += 1
                pending.append((lineno, raw, too_long))
                size += len(raw)
                if len(pending) - min(len(pending), rd.skip) >= feeds_per_block or (
                    size >= BLOCK_BYTES
                ):
                    yield from _block(pending, source, rd)
                    pending, size = [], 0
    except (OSError, EOFError, zlib.error) as exc:
        list(_lines(pending, source, rd))  # as read so far: consumed, problems recorded
        raise InputError(
            source, f"{lineno + 1}", "<file>", source, f"a file that can be read to its end ({exc})"
        ) from None
    if pending:
        yield from _block(pending, source, rd)
    if not lines:
        rd.file_problem(
            InputError(source, "1", "<file>", "", "at least one feed (the file has no lines)")
        )


def _block(
    pending: list[tuple[int, bytes, bool]], source: str, rd: Reading
) -> Iterator[pd.DataFrame]:
    """The good feeds of a block of lines: read whole by pyarrow when clean, else by line."""
    skipped = min(len(pending), rd.skip)
    todo = pending[skipped:]
    fast = None
    if todo and not any(too_long for _, _, too_long in todo):
        fast = read_block([raw for _, raw, _ in todo], rd.clean)
    if fast is None:
        batch = list(_lines(pending, source, rd))
        if batch:
            yield _feeds_frame(batch, rd.clean)
        return
    for _ in range(skipped):
        rd.take()  # resume: already scored, not even parsed
    keep = np.ones(len(todo), dtype=bool)
    units = np.zeros(len(todo), dtype=np.int64)
    for k, ((lineno, raw, _), feed_id) in enumerate(zip(todo, fast.feed_ids, strict=True)):
        units[k] = rd.take()  # type: ignore[assignment]
        if not rd.accept(feed_id):
            record = parse_json_line(raw, source, str(lineno))
            rd.rejects(duplicate(source, str(lineno), feed_id), "feed", units[k], record, feed_id)
            keep[k] = False
    if keep.any():
        lines = np.fromiter((lineno for lineno, _, _ in todo), np.int64, len(todo))
        yield fast.frame(keep, units, lines)


def _lines(
    pending: list[tuple[int, bytes, bool]], source: str, rd: Reading
) -> Iterator[tuple[Feed, int, int]]:
    """Each line on its own: consumed as a unit, decoded, validated; its problems recorded."""
    for lineno, raw, too_long in pending:
        unit = rd.take()
        if unit is None:  # resume: already scored, not even parsed
            continue
        if too_long:
            err = overlong(source, str(lineno), raw)
            rd.rejects(err, "feed", unit, _raw_line(raw) + "…", None)
            continue
        feed = _jsonl_feed(raw, source, lineno, unit, rd)
        if feed is not None:
            yield feed, unit, lineno


def _feeds_frame(feeds: list[tuple[Feed, int, int]], clean: Cleaner) -> pd.DataFrame:
    """Rows of the good items, texts cleaned (memoised); labels as nullable integers.

    Built a column at a time: the feed's columns are taken by index, not appended per row.
    """
    counts = np.asarray([len(f.items) for f, _, _ in feeds], dtype=np.int64)
    per_feed = np.repeat(np.arange(len(feeds)), counts)
    items = [item for f, _, _ in feeds for item in f.items]

    def by_feed(values: list[str]) -> np.ndarray:
        return np.asarray(values, dtype=object)[per_feed]

    columns = {
        "feed_id": by_feed([f.feed_id for f, _, _ in feeds]),
        "article_title": by_feed([clean(f.article.title) for f, _, _ in feeds]),
        "article_body": by_feed([clean(f.article.body) for f, _, _ in feeds]),
        "item_id": [item.id for item in items],
        "item_title": [clean(item.title) for item in items],
        "item_summary": [clean(item.summary) for item in items],
    }
    frame = pd.DataFrame({c: pd.Series(columns[c], dtype=object) for c in LONG_COLUMNS})
    for column in (LABEL, GRADE):
        values = [getattr(item, column) for item in items]
        if any(v is not None for v in values):
            frame[column] = pd.array(values, dtype="Int64")
    for name in ITEM_EXTRAS:  # passed through to the output when some item has it
        values = [getattr(item, name) for item in items]
        if any(v is not None for v in values):
            frame[name] = pd.Series(values, dtype=object)
    frame[UNIT] = np.asarray([u for _, u, _ in feeds], dtype=np.int64)[per_feed]
    frame[POS] = np.asarray([line for _, _, line in feeds], dtype=np.int64)[per_feed]
    return frame


def count_records(src: Source) -> int:
    """Non-blank lines: one record each, good or bad."""
    try:
        with open_lines(src.path) as fh:
            return sum(1 for raw, too_long in bounded_lines(fh) if too_long or raw.strip())
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(
            str(src.path), "-", "<file>", str(src.path), f"a readable file ({exc})"
        ) from None
