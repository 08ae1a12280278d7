"""A request body into a table of whole feeds, through the one validator, or a refusal.

The body is read up to the size limit (a longer one is refused while it is read, before
any parsing), decoded as strict JSON by the JSONL reader's decoder, checked against the
documented limits, and validated feed by feed by ``relevance.io.records`` (the JSONL
reader's checks and table). Every problem of a bad request is listed; nothing of it
reaches the model.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

import pandas as pd

from relevance.io.errors import InputError
from relevance.io.records import records_frame
from relevance.io.rejects import Rejects, jsonable
from relevance.io.schema import parse_json_line

SOURCE = "request"
#: Problems listed in one 422 answer (all are counted).
MAX_LISTED = 50
#: After the limit, this much more of a body is read and dropped so the client sees the 413.
DRAIN_BYTES = 64 * 1024 * 1024
JSON_TYPES = ("application/json", "application/x-json", "text/json")


class TooLarge(Exception):
    """The body is over ``limit`` bytes (``seen`` is how much was read, or declared)."""

    def __init__(self, seen: int, limit: int, declared: bool):
        self.seen, self.limit = seen, limit
        mb = limit / (1024 * 1024)
        how = f"Content-Length {seen}" if declared else f"more than {limit} bytes sent"
        super().__init__(
            f"the request body is over the service's limit of {mb:g} MB ({how}); "
            "send fewer feeds per request, or start the service with a larger --max-body-mb"
        )


class Unsupported(Exception):
    """A content type or encoding the service does not read (415)."""


class Invalid(Exception):
    """A request that fails validation: every problem, each naming its field (422)."""

    def __init__(self, problems: list[dict], total: int | None = None):
        self.problems = problems
        self.total = len(problems) if total is None else total
        super().__init__(problems[0]["msg"] if problems else "invalid request")


def check_headers(content_type: str | None, content_encoding: str | None) -> None:
    """JSON only, uncompressed: anything else is refused before the body is read."""
    if content_encoding and content_encoding.strip().lower() not in ("identity", ""):
        raise Unsupported(
            f"Content-Encoding {content_encoding!r}: expected an uncompressed body (identity)"
        )
    if content_type:
        kind = content_type.split(";", 1)[0].strip().lower()
        if kind not in JSON_TYPES and not kind.endswith("+json"):
            raise Unsupported(f"Content-Type {content_type!r}: expected application/json")


async def read_body(chunks: AsyncIterator[bytes], limit: int, declared: str | None) -> bytes:
    """The whole body, or TooLarge once it passes ``limit`` (declared, or as it is read).

    A refused body is read on and dropped (up to DRAIN_BYTES) so that a client still
    sending it receives the 413 rather than a broken connection.
    """
    too_large: TooLarge | None = None
    if declared is not None and declared.strip().isdigit() and int(declared) > limit:
        too_large = TooLarge(int(declared), limit, declared=True)
    parts: list[bytes] = []
    size = 0
    async for chunk in chunks:
        size += len(chunk)
        if too_large is None and size > limit:
            too_large, parts = TooLarge(size, limit, declared=False), []
        if too_large is not None:
            if size > limit + DRAIN_BYTES:
                break
            continue
        parts.append(chunk)
    if too_large is not None:
        raise too_large
    return b"".join(parts)


@dataclass
class Parsed:
    """A validated request: its long-format table, feeds and items."""

    frame: pd.DataFrame
    feeds: int
    items: int


def _loc(where: str, field: str) -> list[str | int]:
    """FastAPI-style location: ``["body", "feeds", 2, "items", 0, "id"]``."""
    parts: list[str | int] = ["body"]
    for piece in [*where.split("."), *field.split(".")]:
        if piece and piece != "body" and not piece.startswith("<"):
            parts.append(int(piece) if piece.isdigit() else piece)
    return parts


def problem(err: InputError) -> dict:
    return {
        "loc": _loc(err.where, err.field),
        "msg": str(err),
        "type": "invalid_input",
        "field": err.field,
        "input": jsonable(err.value),
        "expected": err.expected,
    }


def _head(body: bytes) -> str:
    return body[:80].decode("utf-8", "replace")


def _records(body: bytes, max_feeds: int) -> tuple[list[object], list[str]]:
    """The feed records of a body: one feed, or ``{"feeds": [...]}``, and where each is."""
    try:
        record = parse_json_line(body, SOURCE, "body")
    except RecursionError:
        raise InputError(
            SOURCE, "body", "<json>", _head(body), "JSON nested less deeply (the body is too deep)"
        ) from None
    if not isinstance(record, dict):
        raise InputError(
            SOURCE, "body", "<record>", record, 'a JSON object: one feed, or {"feeds": [...]}'
        )
    if "feeds" not in record:
        return [record], ["body"]
    feeds = record["feeds"]
    if not isinstance(feeds, list) or not feeds:
        raise InputError(SOURCE, "body", "feeds", feeds, "a non-empty list of feeds")
    if len(feeds) > max_feeds:
        raise InputError(
            SOURCE,
            "body",
            "feeds",
            f"{len(feeds)} feeds",
            f"at most {max_feeds} feeds per request (the service's --max-feeds-per-request)",
        )
    return feeds, [f"feeds.{k}" for k in range(len(feeds))]


def parse(body: bytes, max_feeds: int, max_items: int) -> Parsed:
    """Validate a body into a table, or raise Invalid listing every problem."""
    try:
        records, wheres = _records(body, max_feeds)
    except InputError as err:
        raise Invalid([problem(err)]) from None
    problems: list[dict] = []
    for record, where in zip(records, wheres, strict=True):
        items = record.get("items") if isinstance(record, dict) else None
        if isinstance(items, list) and len(items) > max_items:
            err = InputError(
                SOURCE,
                where,
                "items",
                f"{len(items)} items",
                f"at most {max_items} items per feed (the service's --max-items-per-feed)",
            )
            problems.append(problem(err))
    if problems:
        raise Invalid(problems[:MAX_LISTED], len(problems))
    rejects = _Problems()
    try:
        frame = records_frame(records, SOURCE, wheres, rejects)
    except RecursionError:  # a deeply nested field inside a feed
        err = InputError(SOURCE, "body", "<json>", _head(body), "JSON nested less deeply")
        raise Invalid([problem(err)]) from None
    if rejects.errors:
        listed = [problem(err) for err in rejects.errors[:MAX_LISTED]]
        raise Invalid(listed, len(rejects.errors))
    return Parsed(frame, len(records), len(frame))


class _Problems(Rejects):
    """The skip policy, keeping the errors themselves: a 422 lists them all."""

    def __init__(self) -> None:
        super().__init__("skip")
        self.errors: list[InputError] = []

    def __call__(self, err, level, unit, record=None, feed_id=None, item_id=None) -> None:  # type: ignore[override]
        self.errors.append(err)
