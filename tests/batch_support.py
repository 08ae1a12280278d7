"""Shared helpers for the batch-scoring tests: a saved fake model and input files."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pandas as pd
from fakes import FakeEmbedder, make_feeds

from relevance.batch import prepare_model
from relevance.model.estimator import RelevanceModel
from relevance.persistence.artifacts import save_model


def save_fake_model(model: RelevanceModel, folder: Path) -> Path:
    save_model(model, folder)
    return folder


def load_fake(folder: Path, cache_dir: Path | None = None, use_cache: bool = True):
    """The saved fake model behind the on-disk cache, with a fresh call-counting embedder."""
    inner = FakeEmbedder()
    model = prepare_model(folder, cache_dir=cache_dir, use_cache=use_cache, embedder=inner)
    return model, inner


def write_inputs(folder: Path, n_feeds: int = 23, n_items: int = 7, seed: int = 5) -> dict:
    """The same feeds as JSONL, gzip JSONL, CSV and Parquet (long format)."""
    from fakes import feeds_frame

    feeds = make_feeds(n_feeds, n_items, seed)
    text = "".join(json.dumps(f) + "\n" for f in feeds)
    paths = {
        "jsonl": folder / "in.jsonl",
        "jsonl.gz": folder / "in.jsonl.gz",
        "csv": folder / "in.csv",
        "parquet": folder / "in.parquet",
    }
    paths["jsonl"].write_text(text, encoding="utf-8")
    paths["jsonl.gz"].write_bytes(gzip.compress(text.encode(), mtime=0))
    frame = feeds_frame(n_feeds, n_items, seed)
    frame.to_csv(paths["csv"], index=False)
    frame.to_parquet(paths["parquet"], index=False, row_group_size=10)
    return paths


def sorted_scores(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.astype({"feed_id": str, "item_id": str})
    return frame.sort_values(["feed_id", "item_id"]).reset_index(drop=True)
