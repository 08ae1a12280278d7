"""File helpers every stage shares: the one atomic writer and the one file hash.

A file that is rewritten (a model's config, a report, a resume sidecar) must never be
seen half-written: it is written beside its target and renamed over it.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import socket
from collections.abc import Iterable
from pathlib import Path

#: This machine, in the names of temporary folders: a folder another machine (sharing the
#: file system) is writing is never taken for one whose process is gone.
HOST = re.sub(r"\W", "_", socket.gethostname()) or "host"


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


def owner_tag() -> str:
    """``HOST~PID``: who is writing a temporary folder, for ``remove_dead``."""
    return f"{HOST}~{os.getpid()}"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def remove_dead(folder: Path, prefix: str) -> list[Path]:
    """Remove the entries of ``folder`` named ``prefix`` + ``owner_tag()`` [+ ``-HEX``] whose
    process (on this machine) is gone: what killed runs left. Returns what was removed.

    A name without a host (an older run's) is taken as this machine's.
    """
    pattern = re.compile(re.escape(prefix) + r"(?:(?P<host>\w+)~)?(?P<pid>\d+)(?:-[0-9a-f]+)?$")
    removed = []
    try:
        entries = list(folder.iterdir())
    except OSError:
        return removed
    for path in entries:
        m = pattern.match(path.name)
        if m is None or m["host"] not in (None, HOST) or _alive(int(m["pid"])):
            continue
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path, ignore_errors=True)
        else:
            path.unlink(missing_ok=True)
        removed.append(path)
    return removed
