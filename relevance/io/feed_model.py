"""The feed schema as pydantic models: what decides, and names, every problem of a record.

Records that are exactly right never get here (``relevance.io.schema._fast_check`` and the
pyarrow path accept them with the same outcome); the rest are checked field by field, so
each problem is named. Imported on first use: pydantic costs a tenth of a second to import.
"""

from __future__ import annotations

from collections.abc import Callable

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
from relevance.io.limits import MAX_FIELD_CHARS


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
        return "an integer 0, 1 or 2" if "grade" in err.get("loc", ()) else "an integer 0 or 1"
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


def check_with_model(
    record: dict, source: str, where: str, clean: Callable[[str], str]
) -> tuple[Feed, list[tuple[int, InputError]]]:
    """``check_feed`` for a record the fast check did not pass: the feed of its good items,
    and each bad item's index and problem; a problem of the whole feed raises."""
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
    return Feed.model_construct(feed_id=shell.feed_id, article=shell.article, items=good), problems
