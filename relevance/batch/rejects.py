"""``OUT.rejects.jsonl``: the records a ``--on-error skip`` run set aside, written like the output.

Lines go to ``OUT.rejects.jsonl.partial``, committed with each chunk, renamed when the
run is done; ``--resume`` truncates it to the last commit, so a resumed run writes the
same rejects file, byte for byte, as an uninterrupted one.
"""

from __future__ import annotations

import json
import os
from collections import deque
from pathlib import Path
from typing import BinaryIO

from relevance.io.rejects import LEVELS


class RejectsError(RuntimeError):
    """The rejects file cannot be written or continued; the CLI exits 2 with the message."""


def rejects_path(out: Path) -> Path:
    return out.with_name(out.name + ".rejects.jsonl")


class RejectsSink:
    """Reject lines appended to ``PATH.partial``; ``commit`` says how far is durable."""

    def __init__(self, path: Path, position: int | None = None, counts: dict | None = None):
        self.path = Path(path)
        self.partial = self.path.with_name(self.path.name + ".partial")
        self.counts = {level: 0 for level in LEVELS} | (counts or {})  # committed ones
        self._pending: deque[tuple[float, int, str]] = deque()  # (unit, end offset, level)
        self.position = position or 0
        try:
            self._fh = self._open(position)
        except OSError as exc:
            raise RejectsError(f"{self.partial}: cannot write the rejects file ({exc})") from None

    def _open(self, position: int | None) -> BinaryIO:
        if position is None:
            return open(self.partial, "wb")  # noqa: SIM115 - kept open across chunks
        if not self.partial.is_file() and self.path.is_file():
            os.replace(self.path, self.partial)  # interrupted between the two final renames
        if not self.partial.is_file() or self.partial.stat().st_size < position:
            raise RejectsError(
                f"{self.partial}: missing or shorter than the {position} bytes committed; "
                "cannot resume, run without --resume"
            )
        fh = open(self.partial, "r+b")  # noqa: SIM115 - kept open across chunks
        fh.truncate(position)  # rejects of records after the last commit are found again
        fh.seek(position)
        return fh

    def write(self, line: dict, unit: float) -> None:
        data = (json.dumps(line, ensure_ascii=False) + "\n").encode("utf-8")
        try:
            self._fh.write(data)
        except OSError as exc:
            raise RejectsError(f"{self.partial}: cannot write the rejects file ({exc})") from None
        self._pending.append((unit, self._fh.tell(), line["level"]))

    def _sync(self) -> None:
        try:
            self._fh.flush()
            os.fsync(self._fh.fileno())
        except OSError as exc:
            raise RejectsError(f"{self.partial}: cannot write the rejects file ({exc})") from None

    def commit(self, units_done: int) -> int:
        """Make the file durable; the offset that ends the rejects of the first ``units_done``."""
        self._sync()
        while self._pending and self._pending[0][0] <= units_done:
            _, self.position, level = self._pending.popleft()
            self.counts[level] += 1
        return self.position

    def totals(self) -> dict[str, int]:
        out = dict(self.counts)
        for _, _, level in self._pending:
            out[level] += 1
        return out

    def finish(self) -> None:
        self._sync()
        while self._pending:
            _, self.position, level = self._pending.popleft()
            self.counts[level] += 1
        self._fh.close()
        os.replace(self.partial, self.path)

    def close(self) -> None:
        if not self._fh.closed:
            self._fh.close()
