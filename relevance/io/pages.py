"""Pages (text or HTML): one page is one feed, its items the recommended stories.

A page is parsed (``relevance.io.page`` for text, ``relevance.io.html`` for HTML) into a
feed record, the same record a JSONL line holds, and checked by the one feed validator
(``relevance.io.schema.check_feed``). ``page_feed`` is that record: ``relevance parse``
writes it, so what a user checks is exactly what is scored.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.io.errors import InputError
from relevance.io.headings import is_module_heading
from relevance.io.page import Page, PageParseError, no_module_message, read_page
from relevance.io.reading import POS, UNIT, Reading, Source, duplicate
from relevance.io.schema import ITEM_EXTRAS, LONG_COLUMNS, check_feed
from relevance.io.text import clean_text


def read_any_page(path: str | Path, fmt: str = "page") -> Page:
    """A page file parsed as ``fmt``: ``page`` (text) or ``html``."""
    if fmt == "html":
        from relevance.io.html import read_html

        return read_html(path)
    return read_page(path)


def page_feed(page: Page, feed_id: str, source: str) -> dict:
    """The page as a feed record: item ids are 1-based positions, extras kept when known.

    A page without items is an error naming the page: a page whose module heading lists
    nothing, or (HTML readers raise it earlier) no module at all.
    """
    if not page.items:
        stories = [h for h in page.headings if is_module_heading(h)]
        if stories:
            raise InputError(source, "-", stories[0], "", "at least one recommended item")
        raise PageParseError(source, no_module_message(page.headings, page.dropped))
    items = []
    for i, item in enumerate(page.items, start=1):
        record = {"id": f"{i}", "title": item.title, "summary": item.blurb}
        record["module"] = item.module or None
        record["href"] = item.href or None
        record["self_link"] = item.self_link
        items.append(record)
    article = {"title": page.title, "body": page.body}
    feed: dict = {"feed_id": feed_id, "source": source, "article": article}
    if page.date is not None:
        article["date"] = page.date.isoformat()
    if page.url:
        article["url"] = page.url
    feed["items"] = items
    if page.dropped:
        feed["dropped"] = [
            {"module": d.module, "reason": d.reason, "links": d.count} for d in page.dropped
        ]
    return feed


def page_rows(
    page: Page, feed_id: str, source: str, clean: Callable[[str], str] = clean_text
) -> tuple[list[dict], list[tuple[int, InputError]]]:
    """A page's long-format rows, and the items left out (with their 1-based position)."""
    record = page_feed(page, feed_id, source)
    check = check_feed(record, source, "-", clean)
    problems = []
    for i, err in check.problems:
        line = page.items[i].line
        where = f"{line}" if line else "-"
        # Named by the item's position on the page (its id), not its 0-based index.
        name = re.sub(r"^items\.\d+", f"items.{i + 1}", err.field)
        problems.append((i + 1, InputError(source, where, name, err.value, err.expected)))
    rows = []
    title, body = clean(check.feed.article.title), clean(check.feed.article.body)
    for item in check.feed.items:
        row = {
            "feed_id": feed_id,
            "article_title": title,
            "article_body": body,
            "item_id": item.id,
            "item_title": clean(item.title),
            "item_summary": clean(item.summary),
        }
        row.update({name: getattr(item, name) for name in ITEM_EXTRAS})
        rows.append(row)
    return rows, problems


def read_blocks(src: Source, rd: Reading, block_rows: int) -> Iterator[pd.DataFrame]:
    unit = rd.take()
    if unit is None:
        return
    source, feed_id = str(src.path), src.path.stem
    try:
        page = read_any_page(src.path, src.fmt)
        rows, problems = page_rows(page, feed_id, source, rd.clean)
    except (PageParseError, InputError) as err:
        rd.rejects(err, "feed", unit, None, feed_id)
        return
    except OSError as exc:
        raise InputError(source, "0", "<file>", source, f"a readable file ({exc})") from None
    for i, err in problems:
        item = page.items[i - 1]
        rd.rejects(err, "item", unit, {"title": item.title, "blurb": item.blurb}, feed_id, f"{i}")
    if not rows:
        return
    if not rd.accept(feed_id):
        rd.rejects(duplicate(source, "-", feed_id), "feed", unit, None, feed_id)
        return
    frame = pd.DataFrame({c: pd.Series([r[c] for r in rows], dtype=object) for c in LONG_COLUMNS})
    for name in ITEM_EXTRAS:
        values = [r[name] for r in rows]
        if any(v is not None for v in values):
            frame[name] = pd.Series(values, dtype=object)
    frame[UNIT] = np.full(len(frame), unit, dtype=np.int64)
    lines = {f"{i}": item.line for i, item in enumerate(page.items, start=1)}
    frame[POS] = np.array([lines[i] for i in frame["item_id"]], dtype=np.int64)
    yield frame


def count_records(src: Source) -> int:
    return 1
