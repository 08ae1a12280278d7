"""Helpers for the training tests: feed files in every format, a fake fine-tuner."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pandas as pd
from fakes import FakeEmbedder, make_feeds

LONG = ["feed_id", "article_title", "article_body", "item_id", "item_title", "item_summary"]


def long_rows(feeds: list[dict]) -> pd.DataFrame:
    """Feeds as the long CSV/Parquet table; a feed without items becomes one empty row."""
    rows = []
    for f in feeds:
        base = {
            "feed_id": f["feed_id"],
            "article_title": f["article"]["title"],
            "article_body": f["article"]["body"],
        }
        items = f["items"] or [{"id": "", "title": "", "summary": "", "label": ""}]
        for it in items:
            label = it.get("label")
            rows.append(
                {
                    **base,
                    "item_id": it["id"],
                    "item_title": it.get("title", ""),
                    "item_summary": it.get("summary", ""),
                    "label": "" if label is None else str(label),
                    **({"grade": str(it["grade"])} if "grade" in it else {}),
                }
            )
    graded = any("grade" in r for r in rows)
    return pd.DataFrame(rows, columns=[*LONG, "label", *(["grade"] if graded else [])])


def write_feeds(feeds: list[dict], path: Path) -> Path:
    """Write feeds as JSONL, CSV or Parquet, chosen by the suffix."""
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(f) + "\n" for f in feeds), encoding="utf-8")
    elif path.suffix == ".csv":
        long_rows(feeds).to_csv(path, index=False)
    else:
        long_rows(feeds).to_parquet(path, index=False)
    return path


def noisy_feeds(n_feeds: int = 30, flip: float = 0.12, seed: int = 3) -> list[dict]:
    """Synthetic feeds with some labels flipped, so precision 1.0 is out of reach."""
    feeds = make_feeds(n_feeds, 8, seed=seed)
    rng = np.random.default_rng(seed)
    for f in feeds:
        for it in f["items"]:
            if rng.random() < flip:
                it["label"] = 1 - it["label"]
    return feeds


def write_meta(feeds: list[dict], path: Path, n_stories: int = 6, provenance: bool = True) -> Path:
    """A meta file giving each feed a story (several feeds share one) and provenance."""
    lines = []
    for i, f in enumerate(feeds):
        record = {"feed_id": f["feed_id"], "anchor": {"story": f"story-{i % n_stories}"}}
        if provenance:
            record["provenance"] = {
                "repo": "Baba-Yagan/wp-current-events",
                "path": "current_events.rss",
                "license": "CC BY-SA 4.0 (Wikipedia Current events portal text)",
            }
        lines.append(json.dumps(record) + "\n")
    path.write_text("".join(lines), encoding="utf-8")
    return path


class FakeFinetuner:
    """Writes a small 'weights' file derived from the pairs; loads as a salted FakeEmbedder."""

    base_id = "fake-hashing-embedder"

    def __init__(self) -> None:
        self.tuned = 0

    def tune(self, examples, folder: Path, s) -> None:
        self.tuned += 1
        self.examples = examples
        digest = hashlib.sha256(f"{s.seed}:{len(examples)}".encode())
        negatives = examples.negatives or [""] * len(examples)
        for a, p, n in zip(examples.anchors, examples.positives, negatives, strict=True):
            digest.update(a.encode() + b"\0" + p.encode() + b"\0" + n.encode())
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "model.safetensors").write_text(digest.hexdigest()[:16])
        (folder / "modules.json").write_text("[]\n")

    def load(self, folder: Path) -> FakeEmbedder:
        return FakeEmbedder(salt=(folder / "model.safetensors").read_text())


def folder_bytes(folder: Path) -> dict[str, bytes]:
    return {
        p.relative_to(folder).as_posix(): p.read_bytes()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }
