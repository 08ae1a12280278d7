"""Fit a RelevanceModel from labelled feed files and save it as a model folder.

Folds are grouped (by story when a meta file gives one, else by feed) so that
out-of-fold figures say how the model does on stories it has never seen.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.artifacts import save_model
from relevance.embed import Embedder
from relevance.inputs import read_inputs
from relevance.model import RelevanceModel
from relevance.schema import InputError, check_frame


def data_sha256(paths: list[str | Path]) -> str:
    """sha256 over the bytes of every training file, in the order given."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def _lookup(record: dict, dotted: str) -> object:
    value: object = record
    for part in dotted.split("."):
        if not isinstance(value, dict) or part not in value:
            return None
        value = value[part]
    return value


def load_groups(frame: pd.DataFrame, meta: str | Path | None, group_by: str | None) -> np.ndarray:
    """One group label per row: a column of the data, a field of the meta file, or the feed."""
    if group_by is None or group_by == "feed_id":
        return frame["feed_id"].to_numpy()
    if group_by in frame.columns:
        return frame[group_by].astype(str).to_numpy()
    if meta is None:
        raise InputError(
            "<data>", "header", group_by, list(frame.columns), "a column, or --meta FILE"
        )
    by_feed: dict[str, str] = {}
    with open(meta, encoding="utf-8") as fh:
        for lineno, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as exc:
                raise InputError(
                    str(meta), str(lineno), "<json>", line[:60], f"JSON ({exc.msg})"
                ) from None
            value = _lookup(record, group_by)
            if "feed_id" not in record or value is None:
                raise InputError(
                    str(meta), str(lineno), group_by, None, "feed_id and the group field"
                )
            by_feed[str(record["feed_id"])] = str(value)
    missing = sorted(set(frame["feed_id"]) - set(by_feed))
    if missing:
        raise InputError(str(meta), "-", "feed_id", missing[0], "a meta record for every feed")
    return frame["feed_id"].map(by_feed).to_numpy()


def train(
    data: list[str | Path],
    out: str | Path,
    meta: str | Path | None = None,
    group_by: str | None = None,
    embedder: Embedder | None = None,
    **params: object,
) -> RelevanceModel:
    """Read, fit with grouped cross-validation, save; returns the fitted model."""
    frame = read_inputs(list(data))
    check_frame(frame, source=", ".join(map(str, data)), need_label=True)
    groups = load_groups(frame, meta, group_by)
    model = RelevanceModel(embedder=embedder, **params).fit(frame, groups)
    training = {
        "files": [Path(p).name for p in data],
        "sha256": data_sha256(list(data)),
        "n_feeds": int(frame["feed_id"].nunique()),
        "n_items": int(len(frame)),
        "n_relevant": int(frame["label"].sum()),
        "group_by": group_by or "feed_id",
        "n_groups": int(len(np.unique(groups))),
    }
    save_model(model, out, training=training)
    return model
