"""Read what users score or train on into the long-format table.

Format is detected from the file name, then from the content, so a scraped
page saved as ``.txt`` and a JSONL file of feeds both just work.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.page import Page, looks_like_page, read_page
from relevance.schema import (
    LONG_COLUMNS,
    InputError,
    feeds_to_frame,
    read_jsonl_feeds,
)
from relevance.tables import read_whole
from relevance.text import clean_text

FORMATS = ("page", "jsonl", "csv", "parquet")


def detect_format(path: str | Path) -> str:
    """``page``, ``jsonl``, ``csv`` or ``parquet``; content decides for unknown suffixes."""
    name = Path(path).name.lower()
    for suffix, fmt in (
        (".jsonl.gz", "jsonl"),
        (".jsonl", "jsonl"),
        (".ndjson", "jsonl"),
        (".csv", "csv"),
        (".csv.gz", "csv"),
        (".parquet", "parquet"),
    ):
        if name.endswith(suffix):
            return fmt
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
    except OSError as exc:
        raise InputError(str(path), "0", "<file>", str(path), f"a readable file ({exc})") from None
    if head.lstrip("\ufeff \t\r\n").startswith("{"):
        return "jsonl"
    if looks_like_page(head) or head.strip():
        return "page"
    raise InputError(str(path), "1", "<file>", "", "a non-empty page or feeds file")


def page_rows(
    page: Page, feed_id: str, source: str, clean: Callable[[str], str] = clean_text
) -> tuple[list[dict], list[tuple[int, InputError]]]:
    """A page's long-format rows, and the items left out (no text once cleaned).

    Item ids are the 1-based position on the page, also when an item is left out.
    """
    if not page.items:
        raise InputError(source, "-", "Recommended Stories", "", "at least one recommended item")
    title, body = clean(page.title), clean(page.body)
    rows, problems = [], []
    for i, item in enumerate(page.items, start=1):
        item_title, blurb = clean(item.title), clean(item.blurb)
        if not (item_title or blurb):
            where = f"{item.line}" if item.line else "-"
            problem = InputError(
                source, where, f"items.{i}", item.title, "a non-empty title or blurb"
            )
            problems.append((i, problem))
            continue
        rows.append(
            {
                "feed_id": feed_id,
                "article_title": title,
                "article_body": body,
                "item_id": f"{i}",
                "item_title": item_title,
                "item_summary": blurb,
            }
        )
    return rows, problems


def page_to_frame(page: Page, feed_id: str, source: str | None = None) -> pd.DataFrame:
    """A parsed page as a one-feed table; item ids are the 1-based position on the page."""
    rows, problems = page_rows(page, feed_id, source or feed_id)
    if problems:
        raise problems[0][1]
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def read_table(path: str | Path, fmt: str) -> pd.DataFrame:
    """Read a long-format CSV or Parquet file (one row per item), texts cleaned.

    A row that cannot be read (wrong field count, bytes that are not UTF-8, a label
    that is not 0 or 1) raises InputError naming the file and its line or row.
    """
    return read_table_located(path, fmt)[0]


def read_table_located(path: str | Path, fmt: str) -> tuple[pd.DataFrame, list[int]]:
    """``read_table`` and each row's place: its line (CSV) or 1-based row (Parquet)."""
    frame, positions = read_whole(path, fmt)
    for col in LONG_COLUMNS:
        frame[col] = np.array([clean_text(v) for v in frame[col]], dtype=object)
    return frame, positions


def read_input(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """One input file as a long-format table."""
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise InputError(str(path), "-", "--input-format", fmt, f"one of {FORMATS}")
    if fmt == "page":
        return page_to_frame(read_page(path), feed_id=Path(path).stem, source=str(path))
    if fmt == "jsonl":
        return feeds_to_frame(read_jsonl_feeds(path))
    return read_table(path, fmt)


def read_inputs(paths: list[str | Path], fmt: str | None = None) -> pd.DataFrame:
    frames = [read_input(p, fmt) for p in paths]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
