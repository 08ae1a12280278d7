"""Turn table rows (CSV, Parquet) into whole, checked feeds, as JSONL lines are.

A row is an item, a run of rows with one feed id is a feed. The checks are the
feed schema's, on the cleaned text, with the same granularity: a bad row (an
item) is left out alone, a problem of the feed (its article differs between
rows, it is empty, an item id repeats, the feed id was seen before) leaves out
all its rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.io.errors import InputError
from relevance.io.limits import MAX_FIELD_CHARS
from relevance.io.reading import UNIT, Reading, Source, run_starts
from relevance.io.schema import GRADE, LABEL, LONG_COLUMNS
from relevance.io.tables import (
    KEY,
    POS,
    PROBLEM,
    RAW,
    check_header,
    parse_label,
    raw_blocks,
    where_of,
)


def _whole_feed_blocks(raw: Iterator[pd.DataFrame]) -> Iterator[pd.DataFrame]:
    """Re-cut blocks at feed boundaries: the trailing feed waits for the next block."""
    carry: pd.DataFrame | None = None
    for block in raw:
        if not len(block):
            continue
        if carry is not None:
            block = pd.concat([carry, block], ignore_index=True)
        last = int(run_starts(block[KEY].to_numpy(dtype=object))[-1])
        carry = block.iloc[last:].reset_index(drop=True)
        if last:
            yield block.iloc[:last].reset_index(drop=True)
    if carry is not None and len(carry):
        yield carry


class _Feeds:
    """Checks the runs of one block and collects the rows of the good feeds."""

    def __init__(self, block: pd.DataFrame, path: Path, fmt: str, rd: Reading):
        self.block, self.fmt, self.rd = block, fmt, rd
        self.source = str(path)
        self.targets = [c for c in (LABEL, GRADE) if c in block.columns]
        self.values = {c: block[c].to_numpy(dtype=object) for c in LONG_COLUMNS}
        self.raw_targets = {c: block[c].to_numpy(dtype=object) for c in self.targets}
        self.pos = block[POS].to_numpy(dtype=np.int64)  # plain arrays: a pandas lookup per
        self.problems = block[PROBLEM].to_numpy(dtype=object)  # row would double the cost
        self.raw = block[RAW].to_numpy(dtype=object)
        self.out: dict[str, list] = {c: [] for c in [*LONG_COLUMNS, LABEL, GRADE, UNIT, POS]}

    def where(self, r: int) -> str:
        return where_of(self.fmt, int(self.pos[r]))

    def record(self, r: int) -> object:
        raw = self.raw[r]
        if raw is not None:
            return {"fields": raw}
        cols = [*LONG_COLUMNS, *self.targets]
        return {c: self.block[c].iat[r] for c in cols}

    def reject(self, err: InputError, level: str, unit: int, r: int, clean: dict) -> None:
        feed_id = clean["feed_id"] or None
        self.rd.rejects(err, level, unit, self.record(r), feed_id, clean["item_id"] or None)

    def _targets(self, r: int) -> tuple[tuple[int | None, int | None], InputError | None]:
        """(label, grade) of a row: each valid, and agreeing (label 1 exactly at grade 2)."""
        got: dict[str, int | None] = {LABEL: None, GRADE: None}
        for col in self.targets:
            allowed = (0, 1, 2) if col == GRADE else (0, 1)
            got[col], ok = parse_label(self.raw_targets[col][r], allowed)
            if not ok:
                expected = "0, 1 or 2" if col == GRADE else "0 or 1"
                return (None, None), InputError(
                    self.source, self.where(r), col, self.raw_targets[col][r], expected
                )
        label, grade = got[LABEL], got[GRADE]
        if grade is not None:
            if label is not None and label != int(grade == 2):
                expected = f"a label that agrees with grade {grade} (label 1 exactly at grade 2)"
                return (None, None), InputError(self.source, self.where(r), LABEL, label, expected)
            label = int(grade == 2)
        return (label, grade), None

    def _row(self, r: int) -> tuple[dict, tuple[int | None, int | None], InputError | None]:
        """The row's cleaned values, (label, grade), and its own problem (an item problem)."""
        clean = {c: self.rd.clean(self.values[c][r] or "") for c in LONG_COLUMNS}
        problem = self.problems[r]
        label: tuple[int | None, int | None] = (None, None)
        if problem is None and self.targets:
            label, problem = self._targets(r)
        if problem is None:
            problem = self._too_big(r)
        if problem is None:
            for col in ("feed_id", "item_id"):
                if not clean[col]:
                    problem = InputError(
                        self.source, self.where(r), col, self.values[col][r], "a non-empty string"
                    )
                    break
        if problem is None and not (clean["item_title"] or clean["item_summary"]):
            problem = InputError(
                self.source,
                self.where(r),
                "item_title",
                self.values["item_title"][r],
                "a non-empty item_title or item_summary (after cleaning)",
            )
        return clean, label, problem

    def _too_big(self, r: int) -> InputError | None:
        """A text past the field size limit (``relevance.io.limits``): a bad row."""
        for col in LONG_COLUMNS:
            value = self.values[col][r]
            if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
                expected = f"a text of at most {MAX_FIELD_CHARS} characters (the field size limit)"
                return InputError(self.source, self.where(r), col, value[:200], expected)
        return None

    def _feed_problem(self, rows: list[tuple[int, dict, tuple]]) -> InputError | None:
        r0, first, _ = rows[0]
        for r, clean, _ in rows[1:]:
            for col in ("article_title", "article_body"):
                if clean[col] != first[col]:
                    expected = f"the same {col} on every row of a feed (as at {self.where(r0)})"
                    return InputError(
                        self.source, self.where(r), col, self.values[col][r], expected
                    )
        if not (first["article_title"] or first["article_body"]):
            return InputError(
                self.source,
                self.where(r0),
                "article_title",
                self.values["article_title"][r0],
                "a non-empty article_title or article_body",
            )
        at: dict[str, int] = {}
        for r, clean, _ in rows:
            prev = at.setdefault(clean["item_id"], r)
            if prev != r:
                expected = f"item ids unique within a feed (also at {self.where(prev)})"
                return InputError(self.source, self.where(r), "item_id", clean["item_id"], expected)
        if not self.rd.accept(first["feed_id"]):
            return InputError(
                self.source,
                self.where(r0),
                "feed_id",
                first["feed_id"],
                "each feed once in the input, its rows contiguous (this feed id was seen before)",
            )
        return None

    def feed(self, start: int, end: int, unit: int) -> None:
        rows = []
        for r in range(start, end):
            clean, label, problem = self._row(r)
            if problem is not None:
                self.reject(problem, "item", unit, r, clean)
            else:
                rows.append((r, clean, label))
        if not rows:
            return
        problem = self._feed_problem(rows)
        if problem is not None:
            if not self.rd.rejects.skip:
                raise problem
            for r, clean, _ in rows:  # each row of the feed is set aside, at its own place
                note = (
                    ""
                    if self.where(r) == problem.where
                    else f" (the feed's row at {problem.where})"
                )
                err = InputError(
                    self.source,
                    self.where(r),
                    problem.field,
                    problem.value,
                    problem.expected + note,
                )
                self.reject(err, "feed", unit, r, clean)
            return
        for r, clean, label in rows:
            for col in LONG_COLUMNS:
                self.out[col].append(clean[col])
            self.out[LABEL].append(label[0])
            self.out[GRADE].append(label[1])
            self.out[UNIT].append(unit)
            self.out[POS].append(int(self.pos[r]))

    def frame(self) -> pd.DataFrame:
        frame = pd.DataFrame({c: pd.Series(self.out[c], dtype=object) for c in LONG_COLUMNS})
        for col in (LABEL, GRADE):
            if col in self.targets or (col == LABEL and GRADE in self.targets):
                frame[col] = pd.array(self.out[col], dtype="Int64")
        frame[UNIT] = np.asarray(self.out[UNIT], dtype=np.int64)
        frame[POS] = np.asarray(self.out[POS], dtype=np.int64)
        return frame


def read_blocks(src: Source, rd: Reading, block_rows: int) -> Iterator[pd.DataFrame]:
    """Blocks of good, whole feeds from a CSV or Parquet file; bad rows go to the policy."""
    path, fmt = src.path, src.fmt
    units = 0
    for block in _whole_feed_blocks(raw_blocks(path, fmt, block_rows)):
        starts = run_starts(block[KEY].to_numpy(dtype=object))
        units += len(starts)
        if rd.skip >= len(starts):  # resume: already scored, not even checked
            rd.skip -= len(starts)
            rd.units += len(starts)
            continue
        feeds = _Feeds(block, path, fmt, rd)
        for start, end in zip(starts, [*starts[1:], len(block)], strict=True):
            unit = rd.take()
            if unit is not None:
                feeds.feed(int(start), int(end), unit)
        frame = feeds.frame()
        if len(frame):
            yield frame
    if not units:
        rd.file_problem(
            InputError(str(path), "2", "<file>", "", "at least one feed (the file has no rows)")
        )


def inspect(path: Path, fmt: str) -> InputError | None:
    """Columns missing, repeated or of a wrong type: a problem of the whole file."""
    return check_header(path, fmt)


def count_records(src: Source, block_rows: int = 100_000) -> int:
    """Runs of rows with one feed id, without validating them."""
    total, last = 0, None
    for block in raw_blocks(src.path, src.fmt, block_rows):
        keys = block[KEY].to_numpy(dtype=object)
        total += len(run_starts(keys)) - int(keys[0] == last)
        last = keys[-1]
    return total
