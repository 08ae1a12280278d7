"""Rank items within their feed: 1 is the most relevant."""

from __future__ import annotations

import numpy as np


def rank_within_feed(score: np.ndarray, feed: np.ndarray) -> np.ndarray:
    """1-based rank by descending score; ties keep input order, so output is stable."""
    score = np.asarray(score, dtype=np.float64)
    feed = np.asarray(feed)
    order = np.lexsort((np.arange(len(score)), -score, feed))
    sorted_feed = feed[order]
    new_group = np.r_[True, sorted_feed[1:] != sorted_feed[:-1]]
    group_start = np.maximum.accumulate(np.where(new_group, np.arange(len(order)), 0))
    ranks = np.empty(len(score), dtype=np.int64)
    ranks[order] = np.arange(len(order)) - group_start + 1
    return ranks
