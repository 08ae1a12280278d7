"""CSV and Parquet feeds in the long format (one row per item), read without surprises.

pandas' CSV reader stops at the first malformed line or undecodable byte with
no usable location, and silently turns a numeric Parquet column into text. Here
every row keeps its place (CSV: the line it starts on; Parquet: its 1-based
row), a row that cannot be read is marked with the reason instead of stopping
the file, and the columns are checked once, up front. What to do with a marked
row (stop, or set it aside) is the caller's policy.
"""

from __future__ import annotations

import csv
import gzip
import io
import sys
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.io.errors import InputError
from relevance.io.limits import MAX_RECORD_BYTES, RecordLines, RecordTooLong
from relevance.io.reading import POS
from relevance.io.schema import GRADE, LABEL, LONG_COLUMNS

#: Optional target columns: a story label (0/1) and a grade (0/1/2).
TARGETS = (LABEL, GRADE)

#: Articles can be megabytes long; the csv module refuses fields over 128 KiB by default.
#: The limit is raised to the record size limit around each record read and put back,
#: never left changed; a longer field is one bad record.
_FIELD_LIMIT = min(sys.maxsize, 2**31 - 1, MAX_RECORD_BYTES)

#: Columns a reader keeps, plus per row: where it is, its feed key, and its problem.
KEY, PROBLEM, RAW = "_key", "_problem", "_raw"
_TEXT_TYPES = ("string", "large_string", "binary", "large_binary", "null")


def where_of(fmt: str, pos: int) -> str:
    """CSV rows are named by their line (as an editor shows it), Parquet rows by number."""
    return f"{pos}" if fmt == "csv" else f"row {pos}"


def _open_text(path: Path) -> io.TextIOWrapper:
    raw = gzip.open(path, "rb") if path.name.lower().endswith(".gz") else open(path, "rb")  # noqa: SIM115
    # surrogateescape keeps bad bytes so each row can be refused on its own, naming them
    return io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")


def _csv_records(path: Path) -> Iterator[tuple[int, list[str] | None, str]]:
    """(first line, fields or None, csv error) of every non-blank record."""
    with _open_text(path) as text:
        lines = RecordLines(text)
        reader = csv.reader(lines, strict=True)
        start = 1
        while True:
            lines.start_record()
            previous = csv.field_size_limit(_FIELD_LIMIT)
            error = ""
            try:
                fields = next(reader)
            except StopIteration:
                return
            except RecordTooLong:
                fields = None
                error = (
                    f"at most {MAX_RECORD_BYTES} characters, the record size limit; this one "
                    f"starts {lines.head!r}…"
                )
            except csv.Error as exc:
                fields, error = None, str(exc)
            finally:
                csv.field_size_limit(previous)
            if fields is None:
                yield start, None, error
                start = lines.line + 1
                continue
            if fields:
                yield start, fields, ""
            start = lines.line + 1


def _undecodable(value: str) -> int | None:
    """Index of the first byte kept by surrogateescape (a byte that is not UTF-8), else None."""
    if value.isascii():
        return None
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        return exc.start
    return None


def csv_header(path: Path) -> list[str]:
    for _, fields, error in _csv_records(path):
        if fields is None:
            raise InputError(str(path), "1", "<header>", error, "a CSV header line")
        fields = list(fields)
        fields[0] = fields[0].lstrip("\ufeff")
        return fields
    raise InputError(str(path), "1", "<file>", "", "at least one feed (the file is empty)")


def _parquet_types(path: Path) -> dict[str, object]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        schema = pq.ParquetFile(path).schema_arrow
    except (OSError, pa.ArrowException) as exc:
        raise InputError(str(path), "-", "<file>", str(path), f"a Parquet file ({exc})") from None
    return {name: schema.field(name).type for name in schema.names}


def _type_ok(column: str, kind: object) -> bool:
    import pyarrow as pa

    if pa.types.is_dictionary(kind):
        kind = kind.value_type  # type: ignore[attr-defined]
    name = str(kind)
    if column in ("feed_id", "item_id"):
        return name in _TEXT_TYPES or pa.types.is_integer(kind)
    if column in TARGETS:
        return name in ("string", "large_string", "null") or (
            pa.types.is_integer(kind) or pa.types.is_floating(kind)
        )
    return name in _TEXT_TYPES


def check_header(path: Path, fmt: str) -> InputError | None:
    """The file-level problem of a table (columns missing, repeated or of a wrong type), if any."""
    try:
        if fmt == "csv":
            names = csv_header(path)
            types: dict[str, object] = {}
        else:
            types = _parquet_types(path)
            names = list(types)
    except InputError as err:
        return err
    except (OSError, EOFError, UnicodeDecodeError) as exc:
        return InputError(str(path), "1", "<file>", str(path), f"a readable {fmt} file ({exc})")
    missing = [c for c in LONG_COLUMNS if c not in names]
    if missing:
        return InputError(str(path), "header", missing[0], names, f"columns {LONG_COLUMNS}")
    twice = sorted({c for c in names if names.count(c) > 1 and c in [*LONG_COLUMNS, *TARGETS]})
    if twice:
        return InputError(str(path), "header", twice[0], names, "each column once")
    for col in [c for c in [*LONG_COLUMNS, *TARGETS] if c in types]:
        if not _type_ok(col, types[col]):
            expected = {LABEL: "integers 0 or 1", GRADE: "integers 0, 1 or 2"}.get(
                col, "a string column"
            )
            return InputError(str(path), "header", col, str(types[col]), expected)
    return None


def _frame(cols: dict[str, list], pos: list[int], keys: list, problems: list, raw: list):
    frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in cols.items()})
    frame[POS] = np.asarray(pos, dtype=np.int64)
    frame[KEY] = pd.Series(keys, dtype=object)
    frame[PROBLEM] = pd.Series(problems, dtype=object)
    frame[RAW] = pd.Series(raw, dtype=object)
    return frame


class _Rows:
    """Accumulates rows of one block: values, place, feed key and first problem."""

    def __init__(self, wanted: list[str]):
        self.wanted = wanted
        self.cols: dict[str, list] = {c: [] for c in wanted}
        self.pos: list[int] = []
        self.keys: list = []
        self.problems: list = []
        self.raw: list = []
        self.last_key: object = ""

    def add(self, pos: int, values: list, problem: InputError | None, raw: object = None) -> None:
        for col, value in zip(self.wanted, values, strict=True):
            self.cols[col].append(value)
        feed_id = values[0]
        # A row that cannot be read, or has no feed id, is refused but never splits the
        # feed around it (which would make the rest of the feed look like a duplicate).
        if problem is None and isinstance(feed_id, str) and feed_id.strip():
            self.last_key = feed_id
        self.keys.append(self.last_key)
        self.pos.append(pos)
        self.problems.append(problem)
        self.raw.append(raw)

    def flush(self) -> pd.DataFrame:
        frame = _frame(self.cols, self.pos, self.keys, self.problems, self.raw)
        self.cols = {c: [] for c in self.wanted}
        self.pos, self.keys, self.problems, self.raw = [], [], [], []
        return frame


def _csv_blocks(path: Path, block_rows: int) -> Iterator[pd.DataFrame]:
    header = csv_header(path)
    wanted = [c for c in [*LONG_COLUMNS, *TARGETS] if c in header]
    index = [header.index(c) for c in wanted]
    rows = _Rows(wanted)
    source, first = str(path), True
    for start, fields, error in _csv_records(path):
        if first:  # the header
            first = False
            continue
        problem = None
        if fields is None:
            if "unexpected end of data" in error:  # the rest of the file is inside the quote
                error = "a quote opened in this record is never closed"
            problem = InputError(source, f"{start}", "<row>", None, f"a CSV record ({error})")
            values: list = [None] * len(wanted)
            fields = []
        elif len(fields) != len(header):
            values = [fields[i] if i < len(fields) else None for i in index]
            problem = InputError(
                source, f"{start}", "<row>", fields, f"{len(header)} fields, as in the header"
            )
        else:
            values = [fields[i] for i in index]
            for col, value in zip(wanted, values, strict=True):
                at = _undecodable(value)
                if at is not None:
                    shown = value.encode("utf-8", "surrogateescape")
                    problem = InputError(
                        source, f"{start}", col, shown, f"UTF-8 text (bad byte at character {at})"
                    )
                    break
        rows.add(start, values, problem, fields if problem is not None else None)
        if len(rows.pos) >= block_rows:
            yield rows.flush()
    if rows.pos:
        yield rows.flush()


def _parquet_blocks(path: Path, block_rows: int) -> Iterator[pd.DataFrame]:
    import pyarrow.parquet as pq

    names = pq.ParquetFile(path).schema_arrow.names
    wanted = [c for c in [*LONG_COLUMNS, *TARGETS] if c in names]
    rows = _Rows(wanted)
    source, pos = str(path), 0
    for batch in pq.ParquetFile(path).iter_batches(batch_size=block_rows, columns=wanted):
        columns = [batch.column(c).to_pylist() for c in wanted]
        for values in zip(*columns, strict=True):
            pos += 1
            cells = [_parquet_cell(source, pos, c, v) for c, v in zip(wanted, values, strict=True)]
            problem = next((p for _, p in cells if p is not None), None)
            rows.add(pos, [v for v, _ in cells], problem, None)
        if len(rows.pos) >= block_rows:
            yield rows.flush()
    if rows.pos:
        yield rows.flush()


def _parquet_cell(
    source: str, pos: int, col: str, value: object
) -> tuple[object, InputError | None]:
    """A Parquet value as text (ids may be integers); bytes must be UTF-8."""
    if isinstance(value, bytes):
        try:
            return value.decode("utf-8"), None
        except UnicodeDecodeError as exc:
            bad = value[exc.start : exc.start + 4]
            expected = f"UTF-8 text (bad byte at byte {exc.start})"
            return None, InputError(source, f"row {pos}", col, bad, expected)
    if isinstance(value, int) and col not in TARGETS:
        return str(value), None
    return value, None


def raw_blocks(path: Path, fmt: str, block_rows: int) -> Iterator[pd.DataFrame]:
    """Blocks of undecoded rows (values, ``_pos``, ``_key``, ``_problem``, ``_raw``).

    A file that cannot be read to its end (truncated gzip, corrupt Parquet page) is
    an InputError: its remaining records cannot even be counted.
    """
    import pyarrow as pa

    blocks = _csv_blocks(path, block_rows) if fmt == "csv" else _parquet_blocks(path, block_rows)
    try:
        yield from blocks
    except (OSError, EOFError, pa.ArrowException) as exc:
        raise InputError(
            str(path), "-", "<file>", str(path), f"a {fmt} file that can be read to its end ({exc})"
        ) from None


def parse_label(value: object, allowed: tuple[int, ...] = (0, 1)) -> tuple[int | None, bool]:
    """(value, ok): empty or null is none; ``allowed`` integers (as numbers or text) are ok.

    Labels allow 0 and 1, grades 0, 1 and 2.
    """
    if value is None or (isinstance(value, float) and np.isnan(value)):
        return None, True
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return None, True
        try:
            number = float(text)
        except ValueError:
            return None, False
        value = number
    if isinstance(value, bool):
        return None, False
    if isinstance(value, int | float | np.integer | np.floating) and value in allowed:
        return int(value), True
    return None, False
