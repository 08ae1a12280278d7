"""Feed records and their long-format table, validated at the boundary.

Every engine works on one table shape (one row per item, the feed's columns
repeated), so a feed read from JSONL, CSV or Parquet ends up identical.
"""

from __future__ import annotations

import gzip
import json
from collections.abc import Iterable, Iterator
from pathlib import Path

import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from relevance.text import clean_text

#: Columns of the long format, in order. ``label`` is optional at scoring time.
LONG_COLUMNS = [
    "feed_id",
    "article_title",
    "article_body",
    "item_id",
    "item_title",
    "item_summary",
]
LABEL = "label"


class InputError(ValueError):
    """Bad input, with where it was found; the CLI exits 2 on it."""

    def __init__(self, source: str, where: str, field: str, value: object, expected: str):
        self.source, self.where, self.field, self.value, self.expected = (
            source,
            where,
            field,
            value,
            expected,
        )
        shown = repr(value)
        if len(shown) > 80:
            shown = shown[:77] + "..."
        super().__init__(f"{source}:{where}: field {field!r}: got {shown}, expected {expected}")


class Item(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    id: str = Field(min_length=1)
    title: str = ""
    summary: str = ""
    label: int | None = None

    @field_validator("title", "summary", mode="before")
    @classmethod
    def _none_is_empty(cls, v: object) -> object:
        return "" if v is None else v

    @field_validator("label")
    @classmethod
    def _binary(cls, v: int | None) -> int | None:
        if v is not None and v not in (0, 1):
            raise ValueError("label must be 0 or 1")
        return v


class Article(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    title: str = ""
    body: str = ""

    @field_validator("title", "body", mode="before")
    @classmethod
    def _none_is_empty(cls, v: object) -> object:
        return "" if v is None else v


class Feed(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    feed_id: str = Field(min_length=1)
    article: Article
    items: list[Item] = Field(min_length=1)


def _expected(err: dict) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "a value (the field is required)"
    if kind.startswith("string"):
        return "a non-empty string" if "short" in kind else "a string"
    if kind.startswith("int"):
        return "an integer 0 or 1"
    if kind == "too_short":
        return "at least one item"
    return err.get("msg", "a valid value")


def validate_feed(record: object, source: str, where: str) -> Feed:
    """Turn one decoded record into a Feed or raise InputError naming the field."""
    if not isinstance(record, dict):
        raise InputError(source, where, "<record>", record, "a JSON object")
    try:
        feed = Feed.model_validate(record)
    except ValidationError as exc:
        err = exc.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "<record>"
        raise InputError(source, where, loc, err.get("input"), _expected(err)) from None
    seen: set[str] = set()
    for item in feed.items:
        if item.id in seen:
            raise InputError(source, where, "items.id", item.id, "item ids unique within a feed")
        seen.add(item.id)
    if not (feed.article.title.strip() or feed.article.body.strip()):
        raise InputError(source, where, "article", "", "a non-empty article title or body")
    for i, item in enumerate(feed.items):
        if not (item.title.strip() or item.summary.strip()):
            raise InputError(source, where, f"items.{i}", item.id, "a non-empty title or summary")
    return feed


def iter_jsonl_feeds(path: str | Path) -> Iterator[Feed]:
    """Stream feeds from a JSONL file; the first bad line raises InputError."""
    source = str(path)
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "rb") as fh:
        for lineno, raw in enumerate(fh, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise InputError(source, f"{lineno}", "<bytes>", raw[:40], "UTF-8 text") from exc
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    source, f"{lineno}", "<json>", line.strip(), f"valid JSON ({exc.msg})"
                ) from None
            yield validate_feed(record, source, f"{lineno}")


def read_jsonl_feeds(path: str | Path) -> list[Feed]:
    feeds = list(iter_jsonl_feeds(path))
    if not feeds:
        raise InputError(str(path), "1", "<file>", "", "at least one feed")
    return feeds


def feeds_to_frame(feeds: Iterable[Feed]) -> pd.DataFrame:
    """Flatten feeds into the long format, cleaning every text the same way."""
    rows: list[dict] = []
    has_label = False
    for feed in feeds:
        a_title = clean_text(feed.article.title)
        a_body = clean_text(feed.article.body)
        for item in feed.items:
            row = {
                "feed_id": feed.feed_id,
                "article_title": a_title,
                "article_body": a_body,
                "item_id": item.id,
                "item_title": clean_text(item.title),
                "item_summary": clean_text(item.summary),
                LABEL: item.label,
            }
            has_label = has_label or item.label is not None
            rows.append(row)
    frame = pd.DataFrame(rows, columns=[*LONG_COLUMNS, LABEL])
    if not has_label:
        frame = frame.drop(columns=[LABEL])
    return frame


def frame_to_records(frame: pd.DataFrame) -> list[dict]:
    """The inverse of feeds_to_frame, for writing feeds back as JSONL."""
    records = []
    for feed_id, group in frame.groupby("feed_id", sort=False):
        first = group.iloc[0]
        items = []
        for row in group.itertuples(index=False):
            item = {"id": row.item_id, "title": row.item_title, "summary": row.item_summary}
            if LABEL in group.columns and not pd.isna(getattr(row, LABEL)):
                item[LABEL] = int(getattr(row, LABEL))
            items.append(item)
        records.append(
            {
                "feed_id": feed_id,
                "article": {"title": first.article_title, "body": first.article_body},
                "items": items,
            }
        )
    return records


def check_frame(frame: pd.DataFrame, source: str = "<frame>", need_label: bool = False) -> None:
    """Check a long-format table has the columns and label values the model needs."""
    needed = LONG_COLUMNS + ([LABEL] if need_label else [])
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise InputError(source, "header", missing[0], list(frame.columns), f"columns {needed}")
    if need_label:
        labels = frame[LABEL]
        bad = labels[~labels.isin([0, 1])]
        if len(bad):
            row = int(bad.index[0])
            raise InputError(source, f"row {row}", LABEL, bad.iloc[0], "0 or 1")
