"""``relevance parse``: pages (text or HTML) to the feeds JSONL they are scored as.

One feed per page, ``feed_id`` the file name without its suffix, ``source`` the file, each
item with its ``module``, ``href`` and ``self_link``: this is how a user checks what was
extracted, and how a scored item is traced back to the page and the link it came from.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from relevance.io.errors import InputError
from relevance.io.formats import PAGE_FORMATS
from relevance.io.page import PageParseError
from relevance.io.pages import page_feed, read_any_page
from relevance.io.schema import check_feed
from relevance.io.streams import sources


@dataclass
class ParseSummary:
    pages: int = 0  # written
    items: int = 0
    skipped: list[str] = field(default_factory=list)  # the errors of pages left out


def parse_pages(
    paths: list[str | Path],
    out: str | Path | None,
    input_format: str | None = None,
    on_error: str = "error",
    write: Callable[[str], None] | None = None,
) -> ParseSummary:
    """Parse every page and write its feed as one JSON line to ``out`` (atomically).

    Each feed is checked by the feed validator, as scoring checks it. A bad page raises
    (``on_error="error"``) or is left out with its error in ``skipped``. With ``out``
    None, lines go to ``write`` (the CLI's stdout).
    """
    srcs = sources(paths, input_format, on_error)
    lines: list[str] = []
    summary = ParseSummary()
    seen: set[str] = set()
    for src in srcs:
        try:
            if src.problem is not None:
                raise src.problem
            if src.fmt not in PAGE_FORMATS:
                raise InputError(
                    str(src.path), "-", "<file>", src.fmt,
                    f"a page ({', '.join(PAGE_FORMATS)}); feeds files need no parsing",
                )  # fmt: skip
            feed = page_feed(read_any_page(src.path, src.fmt), src.path.stem, str(src.path))
            check = check_feed(feed, str(src.path), "-")
            if check.problems:
                raise check.problems[0][1]
            if feed["feed_id"] in seen:
                raise InputError(
                    str(src.path), "-", "feed_id", feed["feed_id"],
                    "each page once (two files have this name)",
                )  # fmt: skip
        except (InputError, PageParseError) as err:
            if on_error != "skip":
                raise
            summary.skipped.append(str(err))
            continue
        seen.add(feed["feed_id"])
        lines.append(json.dumps(feed, ensure_ascii=False) + "\n")
        summary.pages += 1
        summary.items += len(feed["items"])
    if out is None:
        for line in lines:
            (write or print)(line.rstrip("\n"))
        return summary
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.writelines(lines)
    os.replace(tmp, out)
    return summary
