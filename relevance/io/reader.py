"""Whole inputs as one table, through the very readers and checks a scoring run uses.

``read_input`` (the Python API, ``relevance evaluate``) and ``read_located``
(``relevance train``) accept and refuse exactly what ``relevance score`` does: there is
one path from a file to a table (``relevance.io.streams``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.io.errors import InputError
from relevance.io.reading import POS, UNIT, Reading
from relevance.io.rejects import Rejects
from relevance.io.streams import iter_blocks, sources

#: Rows per read block when a whole input is read at once.
_BLOCK_ROWS = 100_000


@dataclass
class Located:
    """A table and, per row, the file it came from, its line or row there, and its record."""

    frame: pd.DataFrame
    file: np.ndarray  # index into ``paths``
    pos: np.ndarray  # line (JSONL, CSV, page) or 1-based row (Parquet)
    record: np.ndarray  # 0-based record (feed) number over all the files
    paths: list[Path]
    formats: list[str]

    def where(self, i: int) -> str:
        """``file:line N`` or ``file:row N`` of row ``i``, for messages."""
        kind = "row" if self.formats[int(self.file[i])] == "parquet" else "line"
        return f"{self.paths[int(self.file[i])]}:{kind} {int(self.pos[i])}"


def read_located(
    paths: list[str | Path], fmt: str | None = None, rejects: Rejects | None = None
) -> Located:
    """Every file as one table, in order; the first bad record raises (or goes to ``rejects``)."""
    rejects = rejects or Rejects()
    srcs = sources(paths, fmt, rejects.mode)
    reading = Reading(rejects)
    frames, files = [], []
    for k, src in enumerate(srcs):
        for block in iter_blocks([src], reading, _BLOCK_ROWS):
            frames.append(block)
            files.append(np.full(len(block), k, dtype=np.int64))
    if not frames:
        raise InputError(", ".join(map(str, paths)), "1", "<file>", "", "at least one feed")
    frame = pd.concat(frames, ignore_index=True) if len(frames) > 1 else frames[0]
    pos = frame.pop(POS).to_numpy(dtype=np.int64)
    record = frame.pop(UNIT).to_numpy(dtype=np.int64) - 1
    return Located(
        frame.reset_index(drop=True),
        np.concatenate(files),
        pos,
        record,
        [s.path for s in srcs],
        [s.fmt for s in srcs],
    )


def read_inputs(
    paths: list[str | Path], fmt: str | None = None, rejects: Rejects | None = None
) -> pd.DataFrame:
    """Input files as one long-format table (texts cleaned, labels as nullable integers).

    Bad records raise InputError, or with ``rejects=Rejects("skip")`` are kept in
    ``rejects.kept`` and the rest is returned.
    """
    return read_located(list(paths), fmt, rejects).frame


def read_input(
    path: str | Path, fmt: str | None = None, rejects: Rejects | None = None
) -> pd.DataFrame:
    """One input file (page, JSONL, CSV or Parquet) as a long-format table."""
    return read_inputs([path], fmt, rejects)
