"""A block of JSONL lines read by pyarrow in one call and checked on whole columns.

The line-by-line reader (``relevance.io.jsonl``) decodes each line with ``json`` and checks
it with the feed schema: a Python object per field of every item. On clean input, the
common case, that is most of a cache-warm run. Here pyarrow parses a whole block against an
explicit schema, and the schema's rules are applied to its columns, each distinct text
cleaned once. The block is taken only when pyarrow parses it into exactly that schema (no
unknown field, no field of another type, one record per line) and every feed passes every
rule with every item; then it gives what the line reader gives. Anything else, a single
doubt included, returns None and the block is read line by line, where the validator
decides and names the problem: this path never rejects, it only accepts what the
validator would accept whole (``tests/test_jsonl_arrow.py`` holds the two to each other).
"""

from __future__ import annotations

import io
import signal
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.json as pj

from relevance.io.limits import MAX_FIELD_CHARS
from relevance.io.schema import GRADE, ITEM_EXTRAS, LABEL, LONG_COLUMNS

_ARROW_TYPES = {str: pa.string(), bool: pa.bool_()}
_ITEM = pa.struct(
    [
        ("id", pa.string()),
        ("title", pa.string()),
        ("summary", pa.string()),
        (LABEL, pa.int64()),
        (GRADE, pa.int64()),
        *((name, _ARROW_TYPES[kind]) for name, kind in ITEM_EXTRAS.items()),
    ]
)
SCHEMA = pa.schema(
    [
        ("feed_id", pa.string()),
        ("article", pa.struct([("title", pa.string()), ("body", pa.string())])),
        ("items", pa.list_(_ITEM)),
    ]
)
_PARSE = pj.ParseOptions(explicit_schema=SCHEMA, unexpected_field_behavior="infer")


@dataclass
class ArrowBlock:
    """A block every line of which is a good feed: its ids, and its rows once selected."""

    feed_ids: list[str]
    columns: dict[str, np.ndarray]
    labels: dict[str, np.ndarray]
    extras: dict[str, np.ndarray]
    parent: np.ndarray

    def frame(self, keep: np.ndarray, units: np.ndarray, lines: np.ndarray) -> pd.DataFrame:
        """The long rows of the feeds ``keep`` (a mask), with their units and lines (per feed)."""
        rows = keep[self.parent]
        parent = self.parent[rows]
        frame = pd.DataFrame(
            {c: pd.Series(self.columns[c][rows], dtype=object) for c in LONG_COLUMNS}
        )
        for column, values in self.labels.items():
            frame[column] = pd.array(values[rows], dtype="Int64")
        for name, values in self.extras.items():
            frame[name] = pd.Series(values[rows], dtype=object)
        frame["_unit"] = units[parent]
        frame["_pos"] = lines[parent]
        return frame


def read_block(lines: Sequence[bytes], clean: Callable[[str], str]) -> ArrowBlock | None:
    """The block's feeds if pyarrow reads every line and every feed is good whole, else None."""
    if not all(line.lstrip()[:1] == b"{" for line in lines):
        # Only objects are feeds; and pyarrow 26 crashes (SIGSEGV) on a block whose first
        # value is null, so it is never handed one.
        return None
    data = b"\n".join(lines)
    try:
        data.decode("utf-8")  # pyarrow does not check the bytes of strings; the line reader does
    except UnicodeDecodeError:
        return None
    try:
        options = pj.ReadOptions(block_size=len(data) + 1, use_threads=False)
        table = pj.read_json(io.BytesIO(data), read_options=options, parse_options=_PARSE)
    except pa.ArrowInvalid:  # not JSON, not this schema: the line reader says what is wrong
        return None
    except pa.ArrowCancelled as exc:  # Ctrl-C while pyarrow parsed: stop as anywhere else
        if exc.signum in (None, signal.SIGINT):
            raise KeyboardInterrupt from None
        raise
    if not table.schema.equals(SCHEMA) or table.num_rows != len(lines):
        return None  # an unknown field, or lines that are not one record each
    feed_id = table.column("feed_id").combine_chunks()
    article = table.column("article").combine_chunks()
    items = table.column("items").combine_chunks()
    if feed_id.null_count or article.null_count or items.null_count:
        return None
    if len(items) and pc.min(pc.list_value_length(items)).as_py() < 1:
        return None
    flat = pc.list_flatten(items)
    if flat.null_count:
        return None
    parent = pc.list_parent_indices(items).to_numpy().astype(np.int64)
    a_title, a_body = _texts(article, "title", clean), _texts(article, "body", clean)
    i_title, i_summary = _texts(flat, "title", clean), _texts(flat, "summary", clean)
    if any(t is None for t in (a_title, a_body, i_title, i_summary)):
        return None
    ids = _ids(feed_id), _ids(pc.struct_field(flat, "id"))
    if ids[0] is None or ids[1] is None:
        return None
    (feed_ids, feed_codes, _), (item_ids, item_codes, n_item_ids) = ids
    if not np.all((a_title[1] > 0) | (a_body[1] > 0)):  # type: ignore[index]
        return None  # an article without text once cleaned
    if not np.all((i_title[1] > 0) | (i_summary[1] > 0)):  # type: ignore[index]
        return None  # an item without text
    pair = parent * n_item_ids + item_codes
    if len(np.unique(pair)) != len(pair):
        return None  # an item id twice in a feed
    labels = _labels(flat)
    if labels is None:
        return None
    extras = {}
    for name in ITEM_EXTRAS:
        column = pc.struct_field(flat, name)
        if column.null_count < len(column):  # passed through when some item has it
            extras[name] = np.asarray(column.to_pylist(), dtype=object)
    columns = {
        "feed_id": feed_ids[feed_codes][parent],
        "article_title": a_title[0][parent],  # type: ignore[index]
        "article_body": a_body[0][parent],  # type: ignore[index]
        "item_id": item_ids[item_codes],
        "item_title": i_title[0],  # type: ignore[index]
        "item_summary": i_summary[0],  # type: ignore[index]
    }
    return ArrowBlock(list(feed_ids[feed_codes]), columns, labels, extras, parent)


def _longest(values: pa.Array) -> int:
    """Characters of the longest string (the validator's limit counts characters)."""
    return int(pc.max(pc.utf8_length(values)).as_py() or 0) if len(values) else 0


def _distinct(values: pa.Array) -> tuple[list[str], np.ndarray]:
    """The distinct strings of a column and each row's index among them."""
    encoded = pc.dictionary_encode(values)
    return encoded.dictionary.to_pylist(), encoded.indices.to_numpy().astype(np.int64)


def _texts(
    parent: pa.Array, name: str, clean: Callable[[str], str]
) -> tuple[np.ndarray, np.ndarray] | None:
    """(cleaned text per row, its length), a missing text as empty; None past the size limit."""
    values = pc.fill_null(pc.struct_field(parent, name), "")
    if _longest(values) > MAX_FIELD_CHARS:
        return None
    distinct, codes = _distinct(values)
    cleaned = [clean(t) for t in distinct]
    lengths = np.fromiter(map(len, cleaned), np.int64, len(cleaned))
    return np.asarray(cleaned, dtype=object)[codes], lengths[codes]


def _ids(values: pa.Array) -> tuple[np.ndarray, np.ndarray, int] | None:
    """(distinct ids, each row's index, how many), when every id is a non-blank string
    within the size limit (``str.strip``, as the validator judges blankness)."""
    if values.null_count or _longest(values) > MAX_FIELD_CHARS:
        return None
    distinct, codes = _distinct(values)
    if not all(s.strip() for s in distinct):
        return None
    return np.asarray(distinct, dtype=object), codes, len(distinct)


def _labels(flat: pa.Array) -> dict[str, np.ndarray] | None:
    """``label`` (from ``grade`` where only it is given) and ``grade`` as nullable integers,
    for the columns some item has; None for a value out of range or a label against its grade."""
    given, values = {}, {}
    for name in (LABEL, GRADE):
        column = pc.struct_field(flat, name)
        given[name] = pc.is_valid(column).to_numpy(zero_copy_only=False)
        values[name] = pc.fill_null(column, 0).to_numpy(zero_copy_only=False)
    label, grade = values[LABEL], values[GRADE]
    if np.any(given[LABEL] & ((label < 0) | (label > 1))):
        return None
    if np.any(given[GRADE] & ((grade < 0) | (grade > 2))):
        return None
    story = (grade == 2).astype(np.int64)
    if np.any(given[GRADE] & given[LABEL] & (label != story)):
        return None  # the validator refuses the contradiction, naming the item
    label = np.where(given[LABEL], label, story)
    given[LABEL] = given[LABEL] | given[GRADE]
    out = {}
    for name, column in ((LABEL, label), (GRADE, grade)):
        if given[name].any():
            out[name] = column.astype(object)
            out[name][~given[name]] = None
    return out
