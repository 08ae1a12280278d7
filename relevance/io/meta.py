"""The meta file: one JSON object per feed (``feed_id`` plus any facts), keyed by feed id.

Evaluation slices and training groups both read it here, with the same strict JSON
decoding as feed files, so a meta file means the same thing to both.
"""

from __future__ import annotations

from pathlib import Path

from relevance.io.errors import InputError
from relevance.io.schema import parse_json_line


def lookup(record: object, dotted: str) -> object:
    """The value at a dotted path (``anchor.story``), or None where a part is missing."""
    value: object = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def read_meta(meta: str | Path) -> dict[str, dict]:
    """The meta file's records by feed id."""
    by_feed: dict[str, dict] = {}
    try:
        with open(meta, "rb") as fh:
            lines = fh.readlines()
    except OSError as exc:
        raise InputError(str(meta), "0", "<file>", str(meta), f"a readable file ({exc})") from None
    for lineno, line in enumerate(lines, start=1):
        if line.strip():
            record = parse_json_line(line, str(meta), str(lineno))  # UTF-8, strict JSON
            if not isinstance(record, dict) or "feed_id" not in record:
                raise InputError(str(meta), str(lineno), "feed_id", None, "a feed_id per record")
            by_feed[str(record["feed_id"])] = record
    return by_feed
