"""Feed records that are already decoded (an HTTP request body) into the long-format table.

The same checks and the same table as a JSONL file's lines: ``check_feed`` validates each
record, a feed id is accepted once, bad records go to the one policy (``Rejects``), and the
JSONL reader's own table builder makes the rows. There is no second validator.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import pandas as pd

from relevance.io.errors import InputError
from relevance.io.jsonl import _feeds_frame
from relevance.io.reading import POS, UNIT, Reading, duplicate
from relevance.io.rejects import Rejects
from relevance.io.schema import check_feed

if TYPE_CHECKING:
    from relevance.io.feed_model import Feed


def records_frame(
    records: Sequence[object],
    source: str,
    wheres: Sequence[str],
    rejects: Rejects | None = None,
) -> pd.DataFrame:
    """The long-format table of ``records`` (texts cleaned, labels as nullable integers).

    ``wheres[k]`` says where record ``k`` is (``feeds.3``), for messages. With the default
    policy the first bad record or item raises InputError; with ``Rejects("skip")`` every
    problem is kept in ``rejects.kept`` and only the good feeds and items become rows.
    """
    if len(wheres) != len(records):
        raise ValueError(f"{len(wheres)} locations for {len(records)} records")
    rd = Reading(rejects)
    good: list[tuple[Feed, int, int]] = []
    for k, (record, where) in enumerate(zip(records, wheres, strict=True)):
        unit = rd.take() or k + 1  # nothing is skipped here (no resume): always the number
        feed_id = record.get("feed_id") if isinstance(record, dict) else None
        feed_id = feed_id if isinstance(feed_id, str) else None
        try:
            check = check_feed(record, source, where, rd.clean)
        except InputError as err:
            rd.rejects(err, "feed", unit, record, feed_id)
            continue
        items = record["items"]  # type: ignore[index]
        for i, err in check.problems:
            item_id = items[i].get("id") if isinstance(items[i], dict) else None
            item_id = item_id if isinstance(item_id, str) else None
            rd.rejects(err, "item", unit, items[i], check.feed.feed_id, item_id)
        if not check.feed.items:
            continue  # every item was set aside, each with its reason
        if not rd.accept(check.feed.feed_id):
            rd.rejects(duplicate(source, where, check.feed.feed_id), "feed", unit, record, feed_id)
            continue
        good.append((check.feed, unit, k + 1))  # type: ignore[arg-type]
    return _feeds_frame(good, rd.clean).drop(columns=[UNIT, POS])
