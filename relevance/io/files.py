"""File helpers every stage shares: the one atomic writer and the one file hash.

A file that is rewritten (a model's config, a report, a resume sidecar) must never be
seen half-written: it is written beside its target and renamed over it.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path


def write_atomic(path: str | Path, data: str | bytes, fsync: bool = False) -> None:
    """Write ``data`` (text as UTF-8) to ``path`` by a rename; ``fsync`` makes it durable."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with open(tmp, "wb") as fh:
        fh.write(payload)
        if fsync:
            fh.flush()
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def sha256_files(paths: Iterable[str | Path]) -> str:
    """sha256 over the bytes of the files in the order given, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    for path in paths:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def sha256_file(path: str | Path) -> str:
    return sha256_files([path])
