"""What the readers of one run share: the sources, the error policy, the feed ids seen.

Records are counted as *units* (a JSONL line, a run of table rows with one feed id, a
page), good or bad, so ``--resume`` can skip exactly what an interrupted run committed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from relevance.io.errors import InputError
from relevance.io.page import PageParseError
from relevance.io.rejects import Rejects, SeenIds
from relevance.io.text import clean_text

_ONCE = "each feed once, its rows (or line) contiguous"
#: Rows per read block for CSV/Parquet; memory is bounded by this and the chunk size.
BLOCK_ROWS = 20_000
#: Feeds scored together: at 20 items a feed, 1,024 take ~70 MB more than 256 and run ~20%
#: faster when items recur less (docs/benchmarks.md); the CLI's --feeds-per-chunk default.
DEFAULT_FEEDS_PER_CHUNK = 1024
#: Hidden column: the unit (1-based record number over all inputs) each row came from.
UNIT = "_unit"
#: Hidden column: the line (JSONL, CSV, page) or 1-based row (Parquet) of each row.
POS = "_pos"


@dataclass(frozen=True)
class Source:
    """One input file, its format, and (with ``--on-error skip``) why it cannot be read."""

    path: Path
    fmt: str
    problem: InputError | None = field(default=None, compare=False)


class Cleaner:
    """``clean_text`` with a memo bounded in characters: articles and items recur across feeds."""

    def __init__(self, max_chars: int = 4_000_000):
        self.max_chars, self.chars = max_chars, 0
        self.memo: dict[str, str] = {}

    def __call__(self, text: str) -> str:
        out = self.memo.get(text)
        if out is None:
            out = clean_text(text)
            self.chars += len(text) + len(out)
            if self.chars > self.max_chars:
                self.memo.clear()
                self.chars = len(text) + len(out)
            self.memo[text] = out
        return out


class Reading:
    """What the readers of one run share: position, the feed ids seen, the error policy.

    ``skip`` units are consumed without being read (``--resume``); ``units``
    counts every unit consumed, skipped or not; ``seen`` holds the feed ids
    accepted so far (a resumed run starts from those committed before).
    """

    def __init__(self, rejects: Rejects | None = None, skip: int = 0, seen: SeenIds | None = None):
        self.rejects = rejects or Rejects()
        self.skip = skip
        self.units = 0
        self.seen = seen if seen is not None else SeenIds()
        self.clean = Cleaner()

    def take(self) -> int | None:
        """Consume one unit: its number, or None when it is skipped (already done)."""
        self.units += 1
        if self.skip:
            self.skip -= 1
            return None
        return self.units

    def accept(self, feed_id: str) -> bool:
        """True the first time a feed id is accepted in the run."""
        return self.seen.add(feed_id)

    def file_problem(self, err: InputError | PageParseError) -> None:
        """A whole file is bad; recorded unless it lies in the part ``--resume`` skips."""
        if not self.skip:
            self.rejects(err, "file", self.units + 0.5)


def duplicate(source: str, where: str, feed_id: str) -> InputError:
    return InputError(
        source,
        where,
        "feed_id",
        feed_id,
        "each feed once in the input (this feed id was seen before)",
    )


def run_starts(feed_ids: object) -> np.ndarray:
    """Row positions where a new run of equal feed ids begins."""
    ids = np.asarray(feed_ids, dtype=object)
    if not len(ids):
        return np.zeros(0, dtype=np.int64)
    change = np.ones(len(ids), dtype=bool)
    change[1:] = ids[1:] != ids[:-1]
    return np.flatnonzero(change)
