"""The readers' limits: how long a record, how deep its nesting, how big a field.

No input record may cost unbounded memory or recursion: past a limit, the record is one
bad record (rejected with its line under ``--on-error skip``, exit 2 otherwise), never a
crash. The limits are far above any real feed (docs/bad-input.md lists them).
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import BinaryIO

from relevance.io.errors import InputError

#: A JSONL line, or one CSV record, in bytes (a long article is a few hundred KiB).
MAX_RECORD_BYTES = 64 * 1024 * 1024
#: Nesting of arrays and objects in a JSON record (a feed needs 4).
MAX_DEPTH = 64
#: Characters of one text field (an article body, a title, an id).
MAX_FIELD_CHARS = 32 * 1024 * 1024
_READ = 1 << 20


def bounded_lines(fh: BinaryIO, limit: int = MAX_RECORD_BYTES) -> Iterator[tuple[bytes, bool]]:
    """``(line, overlong)`` for each line of the file; an overlong one (over ``limit``
    bytes) comes back as its first 200 bytes and True.

    The overlong line is read past in blocks, never held whole, so a file of one huge
    line costs ``limit`` bytes of memory, and the next line is read as usual.
    """
    while True:
        line = fh.readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or (len(line) == limit + 1 and line.endswith(b"\n")):
            yield line, False
            continue
        head = line[:200]
        while not line.endswith(b"\n"):  # the rest of the overlong line
            line = fh.readline(_READ)
            if not line:
                break
        yield head, True


def overlong(source: str, where: str, head: bytes) -> InputError:
    shown = head.decode("utf-8", "backslashreplace") + "…"
    expected = f"a line of at most {MAX_RECORD_BYTES} bytes (the record size limit)"
    return InputError(source, where, "<line>", shown, expected)


def nesting_exceeds(record: object, limit: int = MAX_DEPTH) -> bool:
    """Whether a decoded JSON value nests arrays and objects deeper than ``limit``.

    Walked without recursion; called only when the line has more brackets than ``limit``.
    """
    stack: list[tuple[object, int]] = [(record, 1)]
    while stack:
        value, depth = stack.pop()
        children = value.values() if isinstance(value, dict) else value
        for child in children:  # type: ignore[union-attr]
            if isinstance(child, dict | list):
                if depth + 1 > limit:
                    return True
                stack.append((child, depth + 1))
    return False


class RecordTooLong(Exception):
    """Raised through csv.reader when one record passes MAX_RECORD_BYTES characters."""


class RecordLines:
    """Physical lines for csv.reader, a record at most ``limit`` characters long.

    A longer record is read past, never held whole: the rest of an overlong line in
    blocks, then (when the record spans lines inside a quoted field) every line until the
    quotes balance, which is where the csv module would have ended the record too. The
    reader then starts the next record afresh (it resets its state on each record).
    """

    def __init__(self, text: io.TextIOWrapper, limit: int = MAX_RECORD_BYTES):
        self.text, self.limit = text, limit
        self.line = 0  # physical lines consumed, read past ones included
        self.size = 0  # characters of the record being read
        self.quotes = 0  # quote characters of the record being read
        self.head = ""

    def start_record(self) -> None:
        self.size = self.quotes = 0

    def __iter__(self) -> RecordLines:
        return self

    def __next__(self) -> str:
        line = self.text.readline(self.limit + 1)
        if not line:
            raise StopIteration
        self.line += 1
        self.size += len(line)
        if self.size <= self.limit:
            self.quotes += line.count('"')
            return line
        self.head = line[:200]
        self._read_past(line)
        raise RecordTooLong

    def _read_past(self, line: str) -> None:
        quotes = self.quotes + line.count('"')
        while not line.endswith(("\n", "\r")):  # the rest of the overlong line
            line = self.text.readline(_READ)
            if not line:
                return
            quotes += line.count('"')
        while quotes % 2:  # inside a quoted field: the record goes on
            line = self.text.readline(_READ)
            if not line:
                return
            if line.endswith(("\n", "\r")):
                self.line += 1
            quotes += line.count('"')
