"""Sparse rows as plain numpy arrays (``indptr``, ``indices``, ``data``), joined by key.

The lexical and name features compare each item's sparse row (terms, names) with its
article's. Done as sorted-key joins on whole arrays, they need neither scipy.sparse nor
a Python loop per item, and a scoring run need not import scipy at all.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


class Rows:
    """Rows of sorted column indices with their values, in the CSR layout."""

    __slots__ = ("data", "indices", "indptr")

    def __init__(self, indptr: np.ndarray, indices: np.ndarray, data: np.ndarray) -> None:
        self.indptr, self.indices, self.data = indptr, indices, data

    @classmethod
    def stack(cls, rows: Sequence[tuple[np.ndarray, np.ndarray]]) -> Rows:
        """One ``Rows`` from (indices, data) pairs, one pair per row."""
        indptr = np.zeros(len(rows) + 1, dtype=np.int64)
        np.cumsum([len(ix) for ix, _ in rows], out=indptr[1:])
        if not rows:
            return cls(indptr, np.zeros(0, np.int64), np.zeros(0))
        indices = np.concatenate([ix for ix, _ in rows]).astype(np.int64, copy=False)
        return cls(indptr, indices, np.concatenate([d for _, d in rows]))

    def gather(self, which: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """For rows ``which`` (repeats allowed): the owner (position in ``which``) and the
        flat position of each of their entries, row after row."""
        which = np.asarray(which, dtype=np.int64)
        starts = self.indptr[which]
        lens = self.indptr[which + 1] - starts
        owner = np.repeat(np.arange(len(which)), lens)
        first = np.cumsum(lens) - lens  # where each owner's entries begin in the output
        pos = np.arange(int(lens.sum()), dtype=np.int64) - np.repeat(first - starts, lens)
        return owner, pos

    def keys(self, width: int) -> np.ndarray:
        """``row * width + column`` of every entry: sorted, as rows and their indices are."""
        row = np.repeat(np.arange(len(self.indptr) - 1, dtype=np.int64), np.diff(self.indptr))
        return row * width + self.indices


def lookup(keys: np.ndarray, values: np.ndarray, wanted: np.ndarray) -> np.ndarray:
    """``values`` at each ``wanted`` key of the sorted ``keys``, 0 where it is absent."""
    if not len(keys):
        return np.zeros(len(wanted), dtype=values.dtype)
    at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
    return np.where(keys[at] == wanted, values[at], 0)
