"""The meta file: one JSON object per feed (``feed_id`` plus any facts), keyed by feed id.

Evaluation slices and training groups both read it here, with the same strict JSON
decoding as feed files, so a meta file means the same thing to both.
"""

from __future__ import annotations

from pathlib import Path

from relevance.io.errors import InputError
from relevance.io.limits import bounded_lines, overlong
from relevance.io.schema import parse_json_line


def lookup(record: object, dotted: str) -> object:
    """The value at a dotted path (``anchor.story``), or None where a part is missing."""
    value: object = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


MetaPaths = str | Path | list[str | Path] | tuple[str | Path, ...]


def lookup_any(record: object, fields: str) -> object:
    """The first of comma-separated dotted ``fields`` that the record has (``a.story,b.topic``).

    With several fields, the value is prefixed with its field, so that values of
    different fields (a story name, a topic number) can never collide.
    """
    names = [f.strip() for f in fields.split(",") if f.strip()]
    for name in names:
        value = lookup(record, name)
        if value is not None:
            return value if len(names) == 1 else f"{name}={value}"
    return None


def read_meta(meta: MetaPaths) -> dict[str, dict]:
    """The meta records of one or more files, by feed id (a feed id once over all of them)."""
    if isinstance(meta, list | tuple):
        merged: dict[str, dict] = {}
        where: dict[str, str] = {}
        for path in meta:
            for feed_id, record in read_meta(path).items():
                if feed_id in merged:
                    raise InputError(
                        str(path), "-", "feed_id", feed_id,
                        f"each feed id in one meta file only (also in {where[feed_id]})",
                    )  # fmt: skip
                merged[feed_id], where[feed_id] = record, str(path)
        return merged
    by_feed: dict[str, dict] = {}
    try:
        with open(meta, "rb") as fh:
            lines = list(bounded_lines(fh))
    except OSError as exc:
        raise InputError(str(meta), "0", "<file>", str(meta), f"a readable file ({exc})") from None
    for lineno, (line, too_long) in enumerate(lines, start=1):
        if too_long:
            raise overlong(str(meta), str(lineno), line)
        if line.strip():
            record = parse_json_line(line, str(meta), str(lineno))  # UTF-8, strict JSON
            if not isinstance(record, dict) or "feed_id" not in record:
                raise InputError(str(meta), str(lineno), "feed_id", None, "a feed_id per record")
            by_feed[str(record["feed_id"])] = record
    return by_feed
