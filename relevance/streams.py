"""Read feed files as a stream of chunks of whole feeds, in bounded memory.

Scoring needs whole feeds (features compare the items of one feed with each
other), so every reader yields long-format tables whose feeds are complete.
JSONL holds one feed per line. CSV and Parquet hold one row per item, and the
rows of a feed must be contiguous: a feed cut by a read block is carried over
to the next block. A feed id that reappears after another feed is refused when
both runs fall in the same chunk (and never merged silently across chunks).
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.inputs import FORMATS, detect_format, page_to_frame
from relevance.schema import LABEL, LONG_COLUMNS, Feed, InputError, validate_feed
from relevance.text import clean_text

_ONCE = "each feed once, its rows (or line) contiguous"
#: Rows per read block for CSV/Parquet; memory is bounded by this and the chunk size.
BLOCK_ROWS = 20_000
DEFAULT_FEEDS_PER_CHUNK = 256


@dataclass(frozen=True)
class Source:
    """One input file and its format."""

    path: Path
    fmt: str


class Skip:
    """Feeds still to skip, shared across the sources of one run (used by --resume)."""

    def __init__(self, feeds: int = 0):
        self.remaining = feeds


def sources(paths: Iterable[str | Path], fmt: str | None = None) -> list[Source]:
    """Resolve each path's format (forced, else detected) and check it is readable."""
    out = []
    for path in paths:
        path = Path(path)
        if not path.is_file():
            raise InputError(str(path), "0", "<file>", str(path), "an existing file")
        kind = fmt or detect_format(path)
        if kind not in FORMATS:
            raise InputError(str(path), "-", "--input-format", kind, f"one of {FORMATS}")
        out.append(Source(path, kind))
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


def _jsonl_blocks(
    path: Path, skip: Skip, feeds_per_block: int, clean: Cleaner
) -> Iterator[pd.DataFrame]:
    source, feeds = str(path), []
    with _open_lines(path) as fh:
        for lineno, raw in enumerate(fh, start=1):
            if not raw.strip():
                continue
            if skip.remaining:  # resume: already scored, not even parsed
                skip.remaining -= 1
                continue
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(source, f"{lineno}", "<bytes>", raw[:40], "UTF-8 text") from exc
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    source, f"{lineno}", "<json>", line.strip(), f"valid JSON ({exc.msg})"
                ) from None
            feed = validate_feed(record, source, f"{lineno}")
            if feeds and feed.feed_id == feeds[-1].feed_id:
                raise InputError(source, f"{lineno}", "feed_id", feed.feed_id, _ONCE)
            feeds.append(feed)
            if len(feeds) >= feeds_per_block:
                yield _feeds_frame(feeds, clean)
                feeds = []
    if feeds:
        yield _feeds_frame(feeds, clean)


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


def _feeds_frame(feeds: list[Feed], clean: Cleaner) -> pd.DataFrame:
    """``schema.feeds_to_frame`` with memoised cleaning; labels as nullable integers."""
    cols: dict[str, list] = {c: [] for c in [*LONG_COLUMNS, LABEL]}
    for feed in feeds:
        a_title, a_body = clean(feed.article.title), clean(feed.article.body)
        for item in feed.items:
            cols["feed_id"].append(feed.feed_id)
            cols["article_title"].append(a_title)
            cols["article_body"].append(a_body)
            cols["item_id"].append(item.id)
            cols["item_title"].append(clean(item.title))
            cols["item_summary"].append(clean(item.summary))
            cols[LABEL].append(item.label)
    frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in cols.items() if c != LABEL})
    if any(v is not None for v in cols[LABEL]):
        frame[LABEL] = pd.array(cols[LABEL], dtype="Int64")
    return frame


# -- CSV and Parquet -----------------------------------------------------------------


def _raw_table_blocks(src: Source, block_rows: int) -> Iterator[pd.DataFrame]:
    """Undecoded blocks of rows; only the columns scoring needs."""
    if src.fmt == "csv":
        header = pd.read_csv(src.path, nrows=0).columns
        _check_columns(src, list(header))
        wanted = [c for c in [*LONG_COLUMNS, LABEL] if c in header]
        reader = pd.read_csv(
            src.path,
            usecols=wanted,
            dtype={c: "string" for c in LONG_COLUMNS},
            keep_default_na=False,
            chunksize=block_rows,
        )
        with reader:
            yield from reader
        return
    import pyarrow.parquet as pq

    file = pq.ParquetFile(src.path)
    names = file.schema_arrow.names
    _check_columns(src, names)
    wanted = [c for c in [*LONG_COLUMNS, LABEL] if c in names]
    for batch in file.iter_batches(batch_size=block_rows, columns=wanted):
        yield batch.to_pandas()


def _check_columns(src: Source, columns: list[str]) -> None:
    missing = [c for c in LONG_COLUMNS if c not in columns]
    if missing:
        raise InputError(str(src.path), "header", missing[0], columns, f"columns {LONG_COLUMNS}")


def _whole_feed_blocks(raw: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Re-cut blocks at feed boundaries: the trailing feed waits for the next block."""
    carry: pd.DataFrame | None = None
    for block in raw:
        if not len(block):
            continue
        block["feed_id"] = block["feed_id"].astype("string").fillna("").astype(object)
        if carry is not None:
            block = pd.concat([carry, block], ignore_index=True)
        last = int(run_starts(block["feed_id"])[-1])
        carry = block.iloc[last:]
        if last:
            yield block.iloc[:last]
    if carry is not None and len(carry):
        yield carry


def _tidy(block: pd.DataFrame, src: Source, first_row: int, clean: Cleaner) -> pd.DataFrame:
    """Clean texts as ``inputs.read_table`` does; labels become nullable integers."""
    out = pd.DataFrame(index=range(len(block)))
    for col in LONG_COLUMNS:
        values = block[col].astype("string").fillna("")
        out[col] = np.array([clean(v) for v in values], dtype=object)
    if LABEL in block.columns:
        raw = block[LABEL].replace("", None) if block[LABEL].dtype == object else block[LABEL]
        label = pd.to_numeric(raw, errors="coerce").astype("Float64")
        bad = ~(label.isna() | label.isin([0, 1])) | (label.isna() & raw.notna())
        if bad.any():
            i = int(np.flatnonzero(bad.to_numpy())[0])
            raise InputError(str(src.path), f"row {first_row + i}", LABEL, raw.iloc[i], "0 or 1")
        out[LABEL] = label.astype("Int64").array
    return out


def _table_blocks(
    src: Source, skip: Skip, block_rows: int, clean: Cleaner
) -> Iterator[pd.DataFrame]:
    row = 1  # 1-based data row (after the header) of the block's first row
    for block in _whole_feed_blocks(_raw_table_blocks(src, block_rows)):
        if skip.remaining:
            starts = run_starts(block["feed_id"])
            if skip.remaining >= len(starts):
                skip.remaining -= len(starts)
                row += len(block)
                continue
            cut = int(starts[skip.remaining])
            skip.remaining = 0
            row += cut
            block = block.iloc[cut:]
        yield _tidy(block.reset_index(drop=True), src, row, clean)
        row += len(block)


# -- all formats -----------------------------------------------------------------------


def iter_blocks(
    srcs: list[Source], skip: Skip | None = None, block_rows: int = BLOCK_ROWS
) -> Iterator[pd.DataFrame]:
    """Long-format tables of whole feeds, source after source, in file order."""
    skip = skip or Skip()
    clean = Cleaner()
    for src in srcs:
        if src.fmt == "page":
            if skip.remaining:
                skip.remaining -= 1
                continue
            from relevance.page import read_page

            yield page_to_frame(read_page(src.path), feed_id=src.path.stem)
        elif src.fmt == "jsonl":
            yield from _jsonl_blocks(src.path, skip, max(1, block_rows // 20), clean)
        else:
            yield from _table_blocks(src, skip, block_rows, clean)


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
        if block["feed_id"].iat[0] == last:  # adjacent files, or lines, with one feed id
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


def iter_chunks(
    srcs: list[Source],
    feeds_per_chunk: int = DEFAULT_FEEDS_PER_CHUNK,
    skip_feeds: int = 0,
    block_rows: int = BLOCK_ROWS,
) -> Iterator[pd.DataFrame]:
    """The input as chunks of whole feeds, after skipping ``skip_feeds`` feeds."""
    skip = Skip(skip_feeds)
    yield from rechunk(iter_blocks(srcs, skip, block_rows), feeds_per_chunk)


def count_feeds(srcs: list[Source], block_rows: int = 100_000) -> int:
    """Feeds in the input, cheaply (no validation, no cleaning), for a progress total."""
    total = 0
    for src in srcs:
        if src.fmt == "page":
            total += 1
        elif src.fmt == "jsonl":
            with _open_lines(src.path) as fh:
                total += sum(1 for raw in fh if raw.strip())
        else:
            last = None
            for block in _raw_ids(src, block_rows):
                ids = np.asarray(block, dtype=object)
                if not len(ids):
                    continue
                total += len(run_starts(ids)) - int(ids[0] == last)
                last = ids[-1]
    return total


def _raw_ids(src: Source, block_rows: int) -> Iterator[np.ndarray]:
    if src.fmt == "csv":
        reader = pd.read_csv(
            src.path, usecols=["feed_id"], dtype=str, keep_default_na=False, chunksize=block_rows
        )
        with reader:
            for block in reader:
                yield block["feed_id"].to_numpy()
        return
    import pyarrow.parquet as pq

    for batch in pq.ParquetFile(src.path).iter_batches(batch_size=block_rows, columns=["feed_id"]):
        yield batch.column(0).cast("string").to_numpy(zero_copy_only=False)


def read_all(paths: list[str | Path], fmt: str | None = None) -> pd.DataFrame:
    """The whole input as one table, through the same readers (for small inputs and tests)."""
    chunks = list(rechunk(iter_blocks(sources(paths, fmt)), 1 << 62))
    if not chunks:
        raise InputError(str(paths[0]), "1", "<file>", "", "at least one feed")
    return chunks[0]
