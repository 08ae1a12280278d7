"""The resume sidecar: ``OUT.progress.json`` and ``OUT.progress.ids`` of a run writing ``OUT``.

After each chunk the run records how far it is, what its inputs, model and options
were, and the digests of the feed ids committed; ``--resume`` continues only when all
of that still holds.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable
from pathlib import Path

from relevance.batch.outputs import ResumeError
from relevance.io.files import write_atomic
from relevance.io.streams import Source
from relevance.model.scorer import Scoring

STATE_VERSION = 2


def state_path(out: Path) -> Path:
    return out.with_name(out.name + ".progress.json")


def ids_path(out: Path) -> Path:
    """Digests of the feed ids committed so far: a resumed run still refuses duplicates."""
    return out.with_name(out.name + ".progress.ids")


def input_fingerprint(srcs: Iterable[Source]) -> list[dict]:
    """Path, size, mtime and a hash of the first MiB of each input: cheap and strict."""
    out = []
    for src in srcs:
        stat = src.path.stat()
        with open(src.path, "rb") as fh:
            head = hashlib.sha256(fh.read(1 << 20)).hexdigest()
        out.append(
            {
                "path": str(src.path.resolve()),
                "format": src.fmt,
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "head_sha256": head,
            }
        )
    return out


def model_key(model: Scoring) -> str:
    """A hash of everything that decides the scores: config, head, threshold, embedder."""
    state = {
        "config": getattr(model, "config_", None),
        "head": model.head_.to_json(),
        "thresholds": model.thresholds_,
        "embedder": model.embedder_.fingerprint,
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def write_state(path: Path, state: dict) -> None:
    write_atomic(path, json.dumps(state, indent=2, sort_keys=True), fsync=True)


def check_state(path: Path, state: dict, expected: dict) -> None:
    if state.get("version") != STATE_VERSION:
        raise ResumeError(f"{path}: written by another version; run without --resume")
    for key, what in (
        ("inputs", "the input files changed (paths, sizes, modification times or content)"),
        ("model", "the model (folder, backend or embedder) is not the one the run started with"),
        ("options", "the options differ (output format, chunk size, input format, --on-error)"),
    ):
        if state.get(key) != expected[key]:
            raise ResumeError(
                f"{path}: cannot resume: {what}; was {json.dumps(state.get(key))[:300]}, "
                f"now {json.dumps(expected[key])[:300]}. Run without --resume to start over"
            )


def load_state(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResumeError(f"{path}: unreadable ({exc}); run without --resume") from None
