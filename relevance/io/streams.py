"""Read feed files as a stream of chunks of whole feeds, in bounded memory.

Scoring needs whole feeds (features compare the items of one feed with each
other), so every reader yields long-format tables whose feeds are complete.
JSONL holds one feed per line. CSV and Parquet hold one row per item, and the
rows of a feed must be contiguous: a feed cut by a read block is carried over
to the next block. A feed id is accepted once per run, across all inputs: a
feed id that reappears later (a duplicate, or a feed whose rows are not
contiguous) is a bad record.

Every bad record goes to one policy (``relevance.io.rejects.Rejects``): stop with
an InputError, or set the record aside and go on. Records are counted as
*units* (a JSONL line, a run of table rows with one feed id, a page), good or
bad, so ``--resume`` can skip exactly what an interrupted run had committed.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd

from relevance.io import formats
from relevance.io.errors import InputError
from relevance.io.reading import (
    _ONCE,
    BLOCK_ROWS,
    DEFAULT_FEEDS_PER_CHUNK,
    POS,
    UNIT,
    Reading,
    Source,
    run_starts,
)
from relevance.io.rejects import Rejects

__all__ = [
    "BLOCK_ROWS",
    "DEFAULT_FEEDS_PER_CHUNK",
    "Reading",
    "Source",
    "count_feeds",
    "iter_blocks",
    "iter_chunks",
    "rechunk",
    "run_starts",
    "sources",
    "unit_chunks",
]


def _inspect(path: Path, kind: str) -> InputError | None:
    """A problem of the whole file found without reading it all (not gzip, columns)."""
    if path.name.lower().endswith(".gz"):
        try:
            with gzip.open(path, "rb") as fh:
                fh.read(1)
        except (OSError, EOFError, zlib.error) as exc:
            return InputError(str(path), "1", "<file>", str(path), f"a gzip file ({exc})")
    inspect = getattr(formats.get(kind, str(path)).reader(), "inspect", None)
    return inspect(path, kind) if inspect is not None else None


def sources(
    paths: Iterable[str | Path], fmt: str | None = None, on_error: str = "error"
) -> list[Source]:
    """Resolve each path's format (forced, else detected) and check what can be checked now.

    A missing or unreadable path is always an error. A file that is empty or whose
    columns are wrong is an error too, unless ``on_error`` is ``skip``: then it is
    kept with its problem, to be recorded as rejected when the run reaches it.
    """
    out = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            what = "a file, not a folder" if path.is_dir() else "an existing file"
            raise InputError(str(path), "0", "<file>", str(path), what)
        try:
            with open(path, "rb") as fh:
                empty = not fh.read(1)
            problem, kind = None, fmt
            if empty:
                problem = InputError(
                    str(path), "1", "<file>", "", "at least one feed (the file is empty)"
                )
            elif kind is None:
                try:
                    kind = formats.detect_format(path)
                except InputError as err:  # blank text: neither a page nor a feeds file
                    problem = err
            if kind is not None:
                formats.get(kind, str(path))  # an unknown --input-format is always an error
            if problem is None and kind is not None:
                problem = _inspect(path, kind)
        except OSError as exc:
            raise InputError(
                str(path), "0", "<file>", str(path), f"a readable file ({exc})"
            ) from None
        if problem is not None and on_error != "skip":
            raise problem
        out.append(Source(path, kind or "page", problem))
    return out


def iter_blocks(
    srcs: list[Source], reading: Reading | None = None, block_rows: int = BLOCK_ROWS
) -> Iterator[pd.DataFrame]:
    """Long-format tables of whole, good feeds, source after source, in file order.

    Each row carries ``_unit``, the record it came from. Every format goes through its
    registered reader (``relevance.io.formats``) and the same checks.
    """
    rd = reading or Reading()
    for src in srcs:
        if src.problem is not None:
            rd.file_problem(src.problem)
        else:
            yield from formats.get(src.fmt).reader().read_blocks(src, rd, block_rows)


def rechunk(blocks: Iterable[pd.DataFrame], feeds_per_chunk: int) -> Iterator[pd.DataFrame]:
    """Chunks of exactly ``feeds_per_chunk`` feeds (the last may hold fewer).

    Chunk boundaries depend only on the feed count, never on read block sizes, so a
    resumed run cuts the rest of the input exactly as the interrupted one did.
    """
    if feeds_per_chunk < 1:
        raise ValueError(f"feeds_per_chunk must be >= 1, got {feeds_per_chunk}")
    pending: list[pd.DataFrame] = []
    have, last = 0, None
    for block in blocks:
        if not len(block):
            continue
        if block["feed_id"].iat[0] == last:  # a safety net: the readers refuse repeats
            raise InputError("<input>", "-", "feed_id", last, _ONCE)
        last = block["feed_id"].iat[-1]
        starts = run_starts(block["feed_id"])
        ends = [*starts[1:], len(block)]
        pos = 0
        while pos < len(starts):
            take = min(feeds_per_chunk - have, len(starts) - pos)
            pending.append(block.iloc[starts[pos] : ends[pos + take - 1]])
            have += take
            pos += take
            if have == feeds_per_chunk:
                yield _join(pending)
                pending, have = [], 0
    if pending:
        yield _join(pending)


def _join(parts: list[pd.DataFrame]) -> pd.DataFrame:
    frame = parts[0] if len(parts) == 1 else pd.concat(parts, ignore_index=True)
    frame = frame.reset_index(drop=True)
    ids = frame["feed_id"]
    if ids.nunique() != len(run_starts(ids)):
        starts = run_starts(ids)
        seen: set[str] = set()
        for s in starts:
            if ids.iloc[s] in seen:
                raise InputError("<input>", "-", "feed_id", ids.iloc[s], _ONCE)
            seen.add(ids.iloc[s])
    return frame


def unit_chunks(
    srcs: list[Source],
    feeds_per_chunk: int,
    reading: Reading,
    block_rows: int = BLOCK_ROWS,
) -> Iterator[tuple[pd.DataFrame, int]]:
    """(chunk, units through its last feed): what a commit after the chunk covers."""
    for chunk in rechunk(iter_blocks(srcs, reading, block_rows), feeds_per_chunk):
        yield chunk.drop(columns=[UNIT, POS]), int(chunk[UNIT].iat[-1])


def iter_chunks(
    srcs: list[Source],
    feeds_per_chunk: int = DEFAULT_FEEDS_PER_CHUNK,
    skip_feeds: int = 0,
    block_rows: int = BLOCK_ROWS,
    rejects: Rejects | None = None,
) -> Iterator[pd.DataFrame]:
    """The input as chunks of whole feeds, after skipping ``skip_feeds`` records."""
    reading = Reading(rejects, skip=skip_feeds)
    for chunk, _ in unit_chunks(srcs, feeds_per_chunk, reading, block_rows):
        yield chunk


def count_feeds(srcs: list[Source]) -> int:
    """Records (units) in the input, without validating them, for a progress total."""
    return sum(
        formats.get(src.fmt).reader().count_records(src) for src in srcs if src.problem is None
    )
