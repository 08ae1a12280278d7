"""Feed records and their long-format table, validated at the boundary.

Every engine works on one table shape (one row per item, the feed's columns
repeated), so a feed read from JSONL, CSV or Parquet ends up identical.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import pandas as pd
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from relevance.io.errors import InputError
from relevance.io.limits import MAX_DEPTH, MAX_FIELD_CHARS, nesting_exceeds
from relevance.io.text import clean_text

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


def missing_column(name: str, n: int) -> object:
    """``n`` missing values of a passed-through column, typed as the column is."""
    if name in ITEM_EXTRAS:
        return np.full(n, None, dtype=object)
    return pd.array([pd.NA] * n, dtype="Int64")


class Item(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    id: str = Field(min_length=1, max_length=MAX_FIELD_CHARS)
    title: str = Field("", max_length=MAX_FIELD_CHARS)
    summary: str = Field("", max_length=MAX_FIELD_CHARS)
    label: int | None = None
    grade: int | None = None
    module: str | None = None
    href: str | None = None
    self_link: bool | None = None

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

    @field_validator("grade")
    @classmethod
    def _graded(cls, v: int | None) -> int | None:
        if v is not None and v not in (0, 1, 2):
            raise ValueError("grade must be 0, 1 or 2")
        return v

    @model_validator(mode="after")
    def _label_agrees(self) -> Item:
        """A grade implies the story label (label 1 exactly when grade 2); both must agree."""
        if self.grade is not None:
            story = int(self.grade == 2)
            if self.label is None:
                self.label = story
            elif self.label != story:
                raise ValueError(
                    f"label {self.label} contradicts grade {self.grade} "
                    "(label is 1 exactly when grade is 2)"
                )
        return self


class Article(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    title: str = Field("", max_length=MAX_FIELD_CHARS)
    body: str = Field("", max_length=MAX_FIELD_CHARS)

    @field_validator("title", "body", mode="before")
    @classmethod
    def _none_is_empty(cls, v: object) -> object:
        return "" if v is None else v


class Feed(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True)
    feed_id: str = Field(min_length=1, max_length=MAX_FIELD_CHARS)
    article: Article
    items: list[Item] = Field(min_length=1)


def _expected(err: dict) -> str:
    kind = err.get("type", "")
    if kind == "missing":
        return "a value (the field is required)"
    if kind == "string_too_long":
        return f"a text of at most {MAX_FIELD_CHARS} characters (the field size limit)"
    if kind.startswith("string"):
        return "a non-empty string" if "short" in kind else "a string"
    if kind.startswith("int"):
        return "an integer 0, 1 or 2" if GRADE in err.get("loc", ()) else "an integer 0 or 1"
    if kind == "too_short":
        return "at least one item"
    if kind.startswith("bool"):
        return "true, false or null"
    return err.get("msg", "a valid value")


def _loc(err: dict, prefix: str = "") -> str:
    return prefix + ".".join(str(p) for p in err["loc"]) if err["loc"] else prefix.rstrip(".")


class _Shell(BaseModel):
    """A feed with its items unchecked, so a bad item can be told from a bad feed."""

    model_config = ConfigDict(extra="ignore", strict=True)
    feed_id: str = Field(min_length=1, max_length=MAX_FIELD_CHARS)
    article: Article
    items: list[object] = Field(min_length=1)


#: A feed's items in one call; a feed with any bad item is redone item by item.
_ITEMS = TypeAdapter(list[Item])


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
    try:
        shell = _Shell.model_validate(record)
    except ValidationError as exc:
        err = exc.errors()[0]
        raise InputError(
            source, where, _loc(err) or "<record>", err.get("input"), _expected(err)
        ) from None
    if not shell.feed_id.strip():
        raise InputError(source, where, "feed_id", shell.feed_id, "a non-empty string")
    if not (clean(shell.article.title) or clean(shell.article.body)):
        raise InputError(source, where, "article", "", "a non-empty article title or body")
    good: list[Item] = []
    problems: list[tuple[int, InputError]] = []
    first_at: dict[str, int] = {}
    try:
        all_good: list[Item] | None = _ITEMS.validate_python(shell.items)
    except ValidationError:
        all_good = None
    for i, raw in enumerate(shell.items):
        try:
            item = all_good[i] if all_good is not None else Item.model_validate(raw)
        except ValidationError as exc:
            err = exc.errors()[0]
            field, value, expected = _loc(err, f"items.{i}."), err.get("input"), _expected(err)
            problems.append((i, InputError(source, where, field, value, expected)))
            continue
        if item.id in first_at:
            pair = f"items.{first_at[item.id]} and items.{i}"
            raise InputError(
                source, where, "items.id", item.id, f"item ids unique within a feed ({pair})"
            )
        first_at[item.id] = i
        if not item.id.strip():
            bad = InputError(source, where, f"items.{i}.id", item.id, "a non-empty string")
        elif not (clean(item.title) or clean(item.summary)):
            bad = InputError(source, where, f"items.{i}", item.id, "a non-empty title or summary")
        else:
            good.append(item)
            continue
        problems.append((i, bad))
    feed = Feed.model_construct(feed_id=shell.feed_id, article=shell.article, items=good)
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
