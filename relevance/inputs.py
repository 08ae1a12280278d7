"""Read what users score or train on into the long-format table.

Format is detected from the file name, then from the content, so a scraped
page saved as ``.txt`` and a JSONL file of feeds both just work.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from relevance.page import Page, looks_like_page, read_page
from relevance.schema import (
    LABEL,
    LONG_COLUMNS,
    InputError,
    feeds_to_frame,
    read_jsonl_feeds,
)
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
    if head.lstrip().startswith("{"):
        return "jsonl"
    if looks_like_page(head) or head.strip():
        return "page"
    raise InputError(str(path), "1", "<file>", "", "a non-empty page or feeds file")


def page_to_frame(page: Page, feed_id: str) -> pd.DataFrame:
    """A parsed page as a one-feed table; item ids are the 1-based position on the page."""
    if not page.items:
        raise InputError(feed_id, "-", "Recommended Stories", "", "at least one recommended item")
    rows = [
        {
            "feed_id": feed_id,
            "article_title": clean_text(page.title),
            "article_body": clean_text(page.body),
            "item_id": f"{i}",
            "item_title": clean_text(item.title),
            "item_summary": clean_text(item.blurb),
        }
        for i, item in enumerate(page.items, start=1)
    ]
    return pd.DataFrame(rows, columns=LONG_COLUMNS)


def read_table(path: str | Path, fmt: str) -> pd.DataFrame:
    """Read a long-format CSV or Parquet file (one row per item)."""
    if fmt == "csv":
        frame = pd.read_csv(path, dtype={c: "string" for c in LONG_COLUMNS}, keep_default_na=False)
    else:
        frame = pd.read_parquet(path)
    missing = [c for c in LONG_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            str(path), "header", missing[0], list(frame.columns), f"columns {LONG_COLUMNS}"
        )
    for col in LONG_COLUMNS:
        frame[col] = frame[col].astype("string").fillna("").map(clean_text).astype(object)
    keep = [*LONG_COLUMNS, LABEL] if LABEL in frame.columns else LONG_COLUMNS
    return frame[keep].reset_index(drop=True)


def read_input(path: str | Path, fmt: str | None = None) -> pd.DataFrame:
    """One input file as a long-format table."""
    fmt = fmt or detect_format(path)
    if fmt not in FORMATS:
        raise InputError(str(path), "-", "--input-format", fmt, f"one of {FORMATS}")
    if fmt == "page":
        return page_to_frame(read_page(path), feed_id=Path(path).stem)
    if fmt == "jsonl":
        return feeds_to_frame(read_jsonl_feeds(path))
    return read_table(path, fmt)


def read_inputs(paths: list[str | Path], fmt: str | None = None) -> pd.DataFrame:
    frames = [read_input(p, fmt) for p in paths]
    return pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
