"""Read feed files as a stream of chunks of whole feeds, in bounded memory.

Scoring needs whole feeds (features compare the items of one feed with each
other), so every reader yields long-format tables whose feeds are complete.
JSONL holds one feed per line. CSV and Parquet hold one row per item, and the
rows of a feed must be contiguous: a feed cut by a read block is carried over
to the next block. A feed id is accepted once per run, across all inputs: a
feed id that reappears later (a duplicate, or a feed whose rows are not
contiguous) is a bad record.

Every bad record goes to one policy (``relevance.rejects.Rejects``): stop with
an InputError, or set the record aside and go on. Records are counted as
*units* (a JSONL line, a run of table rows with one feed id, a page), good or
bad, so ``--resume`` can skip exactly what an interrupted run had committed.
"""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.inputs import FORMATS, detect_format, page_rows
from relevance.page import PageParseError
from relevance.rejects import Rejects, SeenIds
from relevance.schema import (
    LABEL,
    LONG_COLUMNS,
    Feed,
    InputError,
    check_feed,
    parse_json_line,
)
from relevance.table_feeds import table_blocks
from relevance.tables import check_header
from relevance.text import clean_text

_ONCE = "each feed once, its rows (or line) contiguous"
#: Rows per read block for CSV/Parquet; memory is bounded by this and the chunk size.
BLOCK_ROWS = 20_000
DEFAULT_FEEDS_PER_CHUNK = 256
#: Hidden column: the unit (1-based record number over all inputs) each row came from.
UNIT = "_unit"


@dataclass(frozen=True)
class Source:
    """One input file, its format, and (with ``--on-error skip``) why it cannot be read."""

    path: Path
    fmt: str
    problem: InputError | None = field(default=None, compare=False)


class Cleaner:
    """``clean_text`` with a memo bounded in characters: articles and items recur across feeds."""

    def __init__(self, max_chars: int = 4_000_000):
        self.max_chars, self.chars = max_chars, 0
        self.memo: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        out = self.memo.get(text)
        if out is None:
            out = clean_text(text)
            self.chars += len(text) + len(out)
            if self.chars > self.max_chars:
                self.memo.clear()
                self.chars = len(text) + len(out)
            self.memo[text] = out
        return out


class Reading:
    """What the readers of one run share: position, the feed ids seen, the error policy.

    ``skip`` units are consumed without being read (``--resume``); ``units``
    counts every unit consumed, skipped or not; ``seen`` holds the feed ids
    accepted so far (a resumed run starts from those committed before).
    """

    def __init__(self, rejects: Rejects | None = None, skip: int = 0, seen: SeenIds | None = None):
        self.rejects = rejects or Rejects()
        self.skip = skip
        self.units = 0
        self.seen = seen if seen is not None else SeenIds()
        self.clean = Cleaner()

    def take(self) -> int | None:
        """Consume one unit: its number, or None when it is skipped (already done)."""
        self.units += 1
        if self.skip:
            self.skip -= 1
            return None
        return self.units

    def accept(self, feed_id: str) -> bool:
        """True the first time a feed id is accepted in the run."""
        return self.seen.add(feed_id)

    def file_problem(self, err: InputError | PageParseError) -> None:
        """A whole file is bad; recorded unless it lies in the part ``--resume`` skips."""
        if not self.skip:
            self.rejects(err, "file", self.units + 0.5)


def _duplicate(source: str, where: str, feed_id: str) -> InputError:
    return InputError(
        source,
        where,
        "feed_id",
        feed_id,
        "each feed once in the input (this feed id was seen before)",
    )


# -- the inputs ------------------------------------------------------------------------


def _inspect(path: Path, kind: str) -> InputError | None:
    """A problem of the whole file found without reading it all (not gzip, columns)."""
    if path.name.lower().endswith(".gz"):
        try:
            with gzip.open(path, "rb") as fh:
                fh.read(1)
        except (OSError, EOFError, zlib.error) as exc:
            return InputError(str(path), "1", "<file>", str(path), f"a gzip file ({exc})")
    if kind in ("csv", "parquet"):
        return check_header(path, kind)
    return None


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
                    kind = detect_format(path)
                except InputError as err:  # blank text: neither a page nor a feeds file
                    problem = err
            if kind is not None and kind not in FORMATS:
                raise InputError(str(path), "-", "--input-format", kind, f"one of {FORMATS}")
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


def run_starts(feed_ids: pd.Series | np.ndarray) -> np.ndarray:
    """Row positions where a new run of equal feed ids begins."""
    ids = np.asarray(feed_ids, dtype=object)
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    change = np.ones(len(ids), dtype=bool)
    change[1:] = ids[1:] != ids[:-1]
    return np.flatnonzero(change)


# -- JSONL -------------------------------------------------------------------------


def _open_lines(path: Path):
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
    items = record["items"]  # type: ignore[index]
    for i, err in check.problems:
        item_id = items[i].get("id") if isinstance(items[i], dict) else None
        item_id = item_id if isinstance(item_id, str) else None
        rd.rejects(err, "item", unit, items[i], feed.feed_id, item_id)
    if not feed.items:
        return None  # every item was set aside, each with its reason
    if not rd.accept(feed.feed_id):
        rd.rejects(_duplicate(source, where, feed.feed_id), "feed", unit, record, feed.feed_id)
        return None
    return feed


def _jsonl_blocks(src: Source, rd: Reading, feeds_per_block: int) -> Iterator[pd.DataFrame]:
    source, batch, lines, lineno = str(src.path), [], 0, 0
    try:
        with _open_lines(src.path) as fh:
            for lineno, raw in enumerate(fh, start=1):
                if not raw.strip():
                    continue
                lines += 1
                unit = rd.take()
                if unit is None:  # resume: already scored, not even parsed
                    continue
                feed = _jsonl_feed(raw, source, lineno, unit, rd)
                if feed is not None:
                    batch.append((feed, unit))
                if len(batch) >= feeds_per_block:
                    yield _feeds_frame(batch, rd.clean)
                    batch = []
    except (OSError, EOFError, zlib.error) as exc:
        raise InputError(
            source, f"{lineno + 1}", "<file>", source, f"a file that can be read to its end ({exc})"
        ) from None
    if batch:
        yield _feeds_frame(batch, rd.clean)
    if not lines:
        rd.file_problem(
            InputError(source, "1", "<file>", "", "at least one feed (the file has no lines)")
        )


def _feeds_frame(feeds: list[tuple[Feed, int]], clean: Cleaner) -> pd.DataFrame:
    """``schema.feeds_to_frame`` with memoised cleaning; labels as nullable integers."""
    cols: dict[str, list] = {c: [] for c in [*LONG_COLUMNS, LABEL, UNIT]}
    for feed, unit in feeds:
        a_title, a_body = clean(feed.article.title), clean(feed.article.body)
        for item in feed.items:
            cols["feed_id"].append(feed.feed_id)
            cols["article_title"].append(a_title)
            cols["article_body"].append(a_body)
            cols["item_id"].append(item.id)
            cols["item_title"].append(clean(item.title))
            cols["item_summary"].append(clean(item.summary))
            cols[LABEL].append(item.label)
            cols[UNIT].append(unit)
    frame = pd.DataFrame({c: pd.Series(cols[c], dtype=object) for c in LONG_COLUMNS})
    if any(v is not None for v in cols[LABEL]):
        frame[LABEL] = pd.array(cols[LABEL], dtype="Int64")
    frame[UNIT] = np.asarray(cols[UNIT], dtype=np.int64)
    return frame


# -- pages -----------------------------------------------------------------------------


def _page_blocks(src: Source, rd: Reading) -> Iterator[pd.DataFrame]:
    from relevance.page import read_page

    unit = rd.take()
    if unit is None:
        return
    source, feed_id = str(src.path), src.path.stem
    try:
        page = read_page(src.path)
        rows, problems = page_rows(page, feed_id, source, rd.clean)
    except (PageParseError, InputError) as err:
        rd.rejects(err, "feed", unit, None, feed_id)
        return
    except OSError as exc:
        raise InputError(source, "0", "<file>", source, f"a readable file ({exc})") from None
    for i, err in problems:
        item = page.items[i - 1]
        rd.rejects(err, "item", unit, {"title": item.title, "blurb": item.blurb}, feed_id, f"{i}")
    if not rows:
        return
    if not rd.accept(feed_id):
        rd.rejects(_duplicate(source, "-", feed_id), "feed", unit, None, feed_id)
        return
    frame = pd.DataFrame(rows, columns=LONG_COLUMNS)
    frame[UNIT] = np.full(len(frame), unit, dtype=np.int64)
    yield frame


# -- all formats -----------------------------------------------------------------------


def iter_blocks(
    srcs: list[Source], reading: Reading | None = None, block_rows: int = BLOCK_ROWS
) -> Iterator[pd.DataFrame]:
    """Long-format tables of whole, good feeds, source after source, in file order.

    Each row carries ``_unit``, the record it came from.
    """
    rd = reading or Reading()
    for src in srcs:
        if src.problem is not None:
            rd.file_problem(src.problem)
        elif src.fmt == "page":
            yield from _page_blocks(src, rd)
        elif src.fmt == "jsonl":
            yield from _jsonl_blocks(src, rd, max(1, block_rows // 20))
        else:
            yield from table_blocks(src.path, src.fmt, rd, block_rows)


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
        yield chunk.drop(columns=[UNIT]), int(chunk[UNIT].iat[-1])


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


def count_feeds(srcs: list[Source], block_rows: int = 100_000) -> int:
    """Records (units) in the input, without validating them, for a progress total."""
    from relevance.tables import KEY, raw_blocks

    total = 0
    for src in srcs:
        if src.problem is not None:
            continue
        if src.fmt == "page":
            total += 1
        elif src.fmt == "jsonl":
            try:
                with _open_lines(src.path) as fh:
                    total += sum(1 for raw in fh if raw.strip())
            except (OSError, EOFError, zlib.error) as exc:
                raise InputError(
                    str(src.path), "-", "<file>", str(src.path), f"a readable file ({exc})"
                ) from None
        else:
            last = None
            for block in raw_blocks(src.path, src.fmt, block_rows):
                keys = block[KEY].to_numpy(dtype=object)
                total += len(run_starts(keys)) - int(keys[0] == last)
                last = keys[-1]
    return total


def read_all(
    paths: list[str | Path], fmt: str | None = None, rejects: Rejects | None = None
) -> pd.DataFrame:
    """The whole input as one table, through the same readers (for small inputs and tests)."""
    on_error = rejects.mode if rejects is not None else "error"
    chunks = list(iter_chunks(sources(paths, fmt, on_error), 1 << 62, rejects=rejects))
    if not chunks:
        raise InputError(str(paths[0]), "1", "<file>", "", "at least one feed")
    return chunks[0]
