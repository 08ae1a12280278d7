"""Scraped pages (text): one page is one feed, its items the recommended stories."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np
import pandas as pd

from relevance.io.errors import InputError
from relevance.io.page import Page, PageParseError, read_page
from relevance.io.reading import POS, UNIT, Reading, Source, duplicate
from relevance.io.schema import LONG_COLUMNS
from relevance.io.text import clean_text


def page_rows(
    page: Page, feed_id: str, source: str, clean: Callable[[str], str] = clean_text
) -> tuple[list[dict], list[tuple[int, InputError]]]:
    """A page's long-format rows, and the items left out (no text once cleaned).

    Item ids are the 1-based position on the page, also when an item is left out.
    """
    if not page.items:
        raise InputError(source, "-", "Recommended Stories", "", "at least one recommended item")
    title, body = clean(page.title), clean(page.body)
    rows, problems = [], []
    for i, item in enumerate(page.items, start=1):
        item_title, blurb = clean(item.title), clean(item.blurb)
        if not (item_title or blurb):
            where = f"{item.line}" if item.line else "-"
            problem = InputError(
                source, where, f"items.{i}", item.title, "a non-empty title or blurb"
            )
            problems.append((i, problem))
            continue
        rows.append(
            {
                "feed_id": feed_id,
                "article_title": title,
                "article_body": body,
                "item_id": f"{i}",
                "item_title": item_title,
                "item_summary": blurb,
            }
        )
    return rows, problems


def read_blocks(src: Source, rd: Reading, block_rows: int) -> Iterator[pd.DataFrame]:
    unit = rd.take()
    if unit is None:
        return
    source, feed_id = str(src.path), src.path.stem
    try:
        page = read_page(src.path)
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
    frame[UNIT] = np.full(len(frame), unit, dtype=np.int64)
    lines = {f"{i}": item.line for i, item in enumerate(page.items, start=1)}
    frame[POS] = np.array([lines[i] for i in frame["item_id"]], dtype=np.int64)
    yield frame


def count_records(src: Source) -> int:
    return 1
