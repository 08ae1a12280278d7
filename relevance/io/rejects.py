"""What happens to a bad record: it stops the run (``error``) or is set aside (``skip``).

A skipped record is described (file, line or row, field, value, why, the record
itself) and handed to a sink (``relevance.batch.rejects.RejectsSink`` writes
``OUT.rejects.jsonl``), or kept in memory. A reject is tied to the input record
(``unit``) it came from, so ``--resume`` can keep exactly the rejects it skips.
"""

from __future__ import annotations

import hashlib
import json
from typing import Protocol

import numpy as np

from relevance.io.errors import InputError
from relevance.io.page import PageParseError

ON_ERROR = ("error", "skip")
#: What a reject stands for: a whole file, a whole feed, or one item (a table row).
LEVELS = ("file", "feed", "item")
#: Longest ``value`` (as JSON) kept in a reject line; longer ones are cut, with "…".
MAX_VALUE = 2000


def jsonable(value: object) -> object:
    """A value as JSON can hold it: bytes and undecodable text shown with \\x escapes."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "backslashreplace")
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            try:  # bytes kept by a surrogateescape decoder: show the bytes themselves
                return value.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
            except UnicodeEncodeError:  # lone surrogates from a JSON escape
                return value.encode("utf-8", "backslashreplace").decode("utf-8")
        return value
    if isinstance(value, float) and not np.isfinite(value):
        return repr(value)
    if isinstance(value, dict):
        return {str(jsonable(k)): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if value is None or isinstance(value, bool | int | float):
        return value
    return repr(value)


def describe(err: InputError | PageParseError) -> dict:
    """The parts of an error a rejects line records: file, line or row, field, value, why."""
    if isinstance(err, PageParseError):
        return {
            "file": err.source,
            "line": err.line,
            "row": None,
            "field": "<page>",
            "value": None,
            "expected": str(err).split(": ", 1)[-1],
        }
    where = err.where
    line = int(where) if where.isdigit() else None
    row = int(where[4:]) if where.startswith("row ") and where[4:].isdigit() else None
    value = jsonable(err.value)
    shown = json.dumps(value, ensure_ascii=False)
    if len(shown) > MAX_VALUE:  # the whole of it is in "record"; a 10 MB line once is enough
        value = shown[:MAX_VALUE] + "…"
    return {
        "file": err.source,
        "line": line,
        "row": row,
        "field": err.field,
        "value": value,
        "expected": err.expected,
    }


class Sink(Protocol):
    """Where skipped records go (a file, in a scoring run)."""

    def write(self, line: dict, unit: float) -> None: ...

    def totals(self) -> dict[str, int]: ...


class Rejects:
    """The readers' policy for bad records: raise (``error``) or record and go on (``skip``).

    Without a sink, skipped records are kept in ``kept`` (the Python API, tests).
    """

    def __init__(self, mode: str = "error", sink: Sink | None = None):
        if mode not in ON_ERROR:
            raise ValueError(f"on_error {mode!r}, expected one of {ON_ERROR}")
        self.mode, self.sink = mode, sink
        self.kept: list[dict] = []

    @property
    def skip(self) -> bool:
        return self.mode == "skip"

    def __call__(
        self,
        err: InputError | PageParseError,
        level: str,
        unit: float,
        record: object = None,
        feed_id: str | None = None,
        item_id: str | None = None,
    ) -> None:
        """Raise ``err``, or write the record down with where it was and why."""
        if self.mode == "error":
            raise err
        line = {
            "level": level,
            **describe(err),
            "feed_id": jsonable(feed_id),
            "item_id": jsonable(item_id),
            "reason": jsonable(str(err)),
            "record": jsonable(record),
        }
        if self.sink is not None:
            self.sink.write(line, unit)
        else:
            self.kept.append(line)

    def totals(self) -> dict[str, int]:
        if self.sink is not None:
            return self.sink.totals()
        out = {level: 0 for level in LEVELS}
        for line in self.kept:
            out[line["level"]] += 1
        return out


class SeenIds:
    """Feed ids accepted so far in a run, as 128-bit digests: 16 bytes a feed, exact in practice.

    Recent digests sit in a set; older ones in sorted arrays merged like a binary
    counter, so a lookup is a few binary searches and memory stays 16 bytes a feed
    (160 MB for ten million feeds), where a set of strings would take ~100 bytes.
    """

    PENDING = 1 << 16

    def __init__(self, initial: bytes = b""):
        self._pending: set[tuple[int, int]] = set()
        self._levels: list[tuple[np.ndarray, np.ndarray]] = []
        if initial:
            pairs = np.frombuffer(initial, dtype="<u8").reshape(-1, 2)
            self._levels.append(_sorted(pairs[:, 0].copy(), pairs[:, 1].copy()))

    @staticmethod
    def digest(feed_id: str) -> tuple[int, int]:
        raw = hashlib.blake2b(feed_id.encode("utf-8", "surrogatepass"), digest_size=16).digest()
        return int.from_bytes(raw[:8], "little"), int.from_bytes(raw[8:], "little")

    @staticmethod
    def pack(feed_ids: list[str]) -> bytes:
        """Digests as bytes, to append to the ``--resume`` record of accepted feeds."""
        return b"".join(
            hi.to_bytes(8, "little") + lo.to_bytes(8, "little")
            for hi, lo in map(SeenIds.digest, feed_ids)
        )

    def __contains__(self, feed_id: str) -> bool:
        return self._has(self.digest(feed_id))

    def _has(self, key: tuple[int, int]) -> bool:
        if key in self._pending:
            return True
        hi, lo = np.uint64(key[0]), np.uint64(key[1])
        for his, los in self._levels:
            i = int(np.searchsorted(his, hi, "left"))
            j = int(np.searchsorted(his, hi, "right"))
            if i < j and bool((los[i:j] == lo).any()):
                return True
        return False

    def add(self, feed_id: str) -> bool:
        """Record ``feed_id``; False when it was there already."""
        key = self.digest(feed_id)
        if self._has(key):
            return False
        self._pending.add(key)
        if len(self._pending) >= self.PENDING:
            his = np.fromiter((k[0] for k in self._pending), dtype=np.uint64)
            los = np.fromiter((k[1] for k in self._pending), dtype=np.uint64)
            self._pending.clear()
            self._levels.append(_sorted(his, los))
            while len(self._levels) > 1 and len(self._levels[-2][0]) <= len(self._levels[-1][0]):
                (h1, l1), (h2, l2) = self._levels.pop(), self._levels.pop()
                self._levels.append(_sorted(np.concatenate([h2, h1]), np.concatenate([l2, l1])))
        return True

    def __len__(self) -> int:
        return len(self._pending) + sum(len(h) for h, _ in self._levels)


def _sorted(his: np.ndarray, los: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    order = np.lexsort((los, his))
    return his[order], los[order]
