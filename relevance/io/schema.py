"""Feed records and their long-format table, validated at the boundary.

Every engine works on one table shape (one row per item, the feed's columns
repeated), so a feed read from JSONL, CSV or Parquet ends up identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

import numpy as np
import pandas as pd

from relevance.io.errors import InputError
from relevance.io.limits import MAX_DEPTH, MAX_FIELD_CHARS, nesting_exceeds
from relevance.io.text import clean_text

if TYPE_CHECKING:
    from relevance.io.feed_model import Feed

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
#: Graded relevance: 0 off-topic, 1 a related story, 2 the same story (label 1).
GRADE = "grade"
#: Optional item fields carried from the input to the scoring output, with their type:
#: where a page listed the item (``module``), its link, and whether it links to the
#: article itself. A column is passed through when some item has the field.
ITEM_EXTRAS: dict[str, type] = {"module": str, "href": str, "self_link": bool}


def __getattr__(name: str) -> object:
    """``Feed``, ``Item``, ``Article``: the pydantic models, imported on first use (pydantic
    takes a tenth of a second to import, and a run of clean records never needs it)."""
    if name in ("Feed", "Item", "Article"):
        from relevance.io import feed_model

        return getattr(feed_model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def missing_column(name: str, n: int) -> object:
    """``n`` missing values of a passed-through column, typed as the column is."""
    if name in ITEM_EXTRAS:
        return np.full(n, None, dtype=object)
    return pd.array([pd.NA] * n, dtype="Int64")


class _Article(NamedTuple):
    title: str
    body: str


class _Item(NamedTuple):
    id: str
    title: str
    summary: str
    label: int | None
    grade: int | None
    module: str | None = None
    href: str | None = None
    self_link: bool | None = None


class _Feed(NamedTuple):
    """A feed the fast check passed: the same fields as ``Feed``, without pydantic's cost."""

    feed_id: str
    article: _Article
    items: list[_Item]


@dataclass
class FeedCheck:
    """A validated feed holding its good items, and the problems of the items left out."""

    feed: Feed | _Feed
    problems: list[tuple[int, InputError]]


def _text(value: object) -> str | None:
    """A text field as the schema reads it (None is empty), or None when it is not text
    (or is past the field size limit: the full check then names it)."""
    if value is None:
        return ""
    return value if type(value) is str and len(value) <= MAX_FIELD_CHARS else None


_NO_EXTRAS = [None] * len(ITEM_EXTRAS)


def _fast_check(record: dict, clean: Callable[[str], str]) -> FeedCheck | None:
    """The feed when every field is exactly right, else None (the full check then decides).

    Written for speed on clean input, the common case: the conditions are those under
    which the pydantic check accepts the whole record, so both give the same feed.
    """
    feed_id, article, items = record.get("feed_id"), record.get("article"), record.get("items")
    if type(feed_id) is not str or len(feed_id) > MAX_FIELD_CHARS or not feed_id.strip():
        return None
    if type(article) is not dict:
        return None
    title, body = _text(article.get("title")), _text(article.get("body"))
    if title is None or body is None or not (clean(title) or clean(body)):
        return None
    if type(items) is not list or not items:
        return None
    out: list[_Item] = []
    ids: set[str] = set()
    for item in items:
        if type(item) is not dict:
            return None
        item_id, label = item.get("id"), item.get("label")
        i_title, summary = _text(item.get("title")), _text(item.get("summary"))
        if type(item_id) is not str or len(item_id) > MAX_FIELD_CHARS or item_id in ids:
            return None
        if not item_id.strip():
            return None
        if i_title is None or summary is None or not (clean(i_title) or clean(summary)):
            return None
        if label is not None and (type(label) is not int or label not in (0, 1)):
            return None
        grade = item.get("grade")
        if grade is not None:
            if type(grade) is not int or grade not in (0, 1, 2):
                return None
            story = int(grade == 2)
            if label is None:
                label = story
            elif label != story:
                return None
        extras = [item.get(name) for name in ITEM_EXTRAS]
        if extras != _NO_EXTRAS:
            for value, kind in zip(extras, ITEM_EXTRAS.values(), strict=True):
                if value is not None and type(value) is not kind:
                    return None
        ids.add(item_id)
        out.append(_Item(item_id, i_title, summary, label, grade, *extras))
    return FeedCheck(_Feed(feed_id, _Article(title, body), out), [])


def check_feed(
    record: object,
    source: str,
    where: str,
    clean: Callable[[str], str] = clean_text,
    fast: bool = True,
) -> FeedCheck:
    """Validate one decoded feed record.

    A problem of the feed as a whole (not an object, feed id, article, items not a
    non-empty list, duplicate item ids) raises InputError; a problem of one item
    (wrong type, missing id, no text once cleaned) is returned with the item's
    index, and the item is left out of ``feed.items``. Emptiness is judged on the
    cleaned text, as it will be embedded: ``"<br>"`` is an empty title. A record that
    is exactly right takes a fast path (``fast``), with the same outcome.
    """
    if not isinstance(record, dict):
        raise InputError(source, where, "<record>", record, "a JSON object")
    quick = _fast_check(record, clean) if fast else None
    if quick is not None:
        return quick
    from relevance.io.feed_model import (
        check_with_model,  # pydantic, for what the fast check cannot pass
    )

    feed, problems = check_with_model(record, source, where, clean)
    return FeedCheck(feed, problems)


def validate_feed(record: object, source: str, where: str) -> Feed:
    """Turn one decoded record into a Feed or raise InputError naming the field."""
    check = check_feed(record, source, where, fast=False)  # always a pydantic Feed
    if check.problems:
        raise check.problems[0][1]
    return check.feed


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not JSON")


def parse_json_line(raw: bytes, source: str, where: str) -> object:
    """Decode one JSONL line: UTF-8 (the bad byte is named) and strict JSON (no NaN)."""
    try:
        line = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        bad = raw[exc.start : exc.start + 4]
        raise InputError(
            source, where, "<bytes>", bad, f"UTF-8 text (bad byte at column {exc.start + 1})"
        ) from None
    if line.startswith("\ufeff"):  # a byte-order mark, as some editors write one
        line = line[1:]

    def deep() -> InputError:
        expected = f"JSON nested at most {MAX_DEPTH} levels deep"
        return InputError(source, where, "<json>", line[:200].strip(), expected)

    try:
        record = json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as exc:
        raise InputError(
            source, where, "<json>", line.strip(), f"valid JSON ({exc.msg}, column {exc.colno})"
        ) from None
    except ValueError as exc:  # NaN, Infinity
        raise InputError(source, where, "<json>", line.strip(), f"valid JSON ({exc})") from None
    except RecursionError:
        raise deep() from None
    brackets = raw.count(b"[") + raw.count(b"{")  # fewer: it cannot nest deeper
    if brackets > MAX_DEPTH and isinstance(record, dict | list) and nesting_exceeds(record):
        raise deep()
    return record


def feeds_to_frame(feeds: Iterable[Feed]) -> pd.DataFrame:
    """Flatten feeds into the long format, cleaning every text the same way."""
    rows: list[dict] = []
    has_label = has_grade = False
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
                GRADE: item.grade,
                **{name: getattr(item, name) for name in ITEM_EXTRAS},
            }
            has_label = has_label or item.label is not None
            has_grade = has_grade or item.grade is not None
            rows.append(row)
    frame = pd.DataFrame(rows, columns=[*LONG_COLUMNS, LABEL, GRADE, *ITEM_EXTRAS])
    extras = [c for c in ITEM_EXTRAS if frame[c].notna().any()]
    frame = frame.drop(columns=[c for c in ITEM_EXTRAS if c not in extras])
    if has_label:
        frame[LABEL] = pd.array(frame[LABEL], dtype="Int64")
    if has_grade:
        frame[GRADE] = pd.array(frame[GRADE], dtype="Int64")
    return frame.drop(columns=[c for c, has in ((LABEL, has_label), (GRADE, has_grade)) if not has])


def check_frame(frame: pd.DataFrame, source: str = "<frame>", need_label: bool = False) -> None:
    """Check a long-format table has the columns and label values the model needs.

    ``need_label``: a ``label`` (0/1) or a ``grade`` (0/1/2) on every row.
    """
    missing = [c for c in LONG_COLUMNS if c not in frame.columns]
    if missing:
        raise InputError(
            source, "header", missing[0], list(frame.columns), f"columns {LONG_COLUMNS}"
        )
    if not need_label:
        return
    graded = GRADE in frame.columns and frame[GRADE].notna().all()
    column, allowed = (GRADE, [0, 1, 2]) if graded else (LABEL, [0, 1])
    if column not in frame.columns:
        raise InputError(
            source, "header", LABEL, list(frame.columns), "a label (0/1) or grade (0/1/2) column"
        )
    values = frame[column]
    bad = values[~values.isin(allowed)]
    if len(bad):
        row = int(bad.index[0])
        expected = " or ".join(", ".join(map(str, allowed)).rsplit(", ", 1))
        raise InputError(source, f"row {row}", column, bad.iloc[0], expected)
