"""``relevance add-backend``'s work: fit a head for another embedding backend into a folder.

The head is fitted with the folder's own parameters on the training data, in a
temporary sibling renamed into place; the root ``config.json`` then only gains
the new files' hashes and a ``backends`` entry (``relevance.persistence.backends``).
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

from relevance.embed.cache import cached
from relevance.embed.encoder import Embedder
from relevance.embed.onnx import BACKENDS
from relevance.io.files import owner_tag, remove_dead, write_atomic
from relevance.io.meta import MetaPaths
from relevance.model.estimator import RelevanceModel
from relevance.persistence.backends import (
    BACKENDS_DIR,
    backend_embedder,
    main_backend,
    register,
)
from relevance.persistence.folder import CONFIG, dump_json, read_config, verify_files
from relevance.train.card import write_card
from relevance.train.pipeline import train


def add_backend(
    model_dir: str | Path,
    data: list[str | Path],
    backend: str,
    meta: MetaPaths | None = None,
    group_by: str | None = None,
    seed: int | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    embedder: Embedder | None = None,
) -> RelevanceModel:
    """Fit a head for ``backend`` with the folder's own parameters and add it to the folder.

    Written to a temporary sibling, then renamed; the root ``config.json`` only
    gains hashes for the new files and a ``backends`` entry.
    """
    folder = Path(model_dir)
    config = read_config(folder)
    verify_files(folder, config)
    if backend == main_backend(config):
        raise ValueError(f"{folder}: its main head is already fitted on {backend!r}")
    if backend not in BACKENDS:
        raise ValueError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    params = dict(config.get("params", {}))
    if seed is not None:
        params["random_state"] = seed
    embedder = embedder or backend_embedder(backend, config, folder, cache_dir)
    if use_cache:
        embedder = cached(embedder, cache_dir)
    parent = folder / BACKENDS_DIR
    parent.mkdir(exist_ok=True)
    remove_dead(parent, f".{backend}.tmp-")  # a killed run's, which the manifest would refuse
    tmp = parent / f".{backend}.tmp-{owner_tag()}"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        paths = [Path(p) for p in data]
        model = train(paths, tmp, meta=meta, group_by=group_by, embedder=embedder, **params)
        _root_relative_embedder(tmp / CONFIG, config)
        target = parent / backend
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    register(folder, backend)
    write_card(folder)  # the root card lists the new files' hashes
    return model


def _root_relative_embedder(path: Path, root_config: dict) -> None:
    """Name the root's weights as the root names them, never by an absolute path.

    The encoder of a backend head is always built from the root config (see
    ``load_model``), so the folder stays valid wherever it is copied.
    """
    config = json.loads(path.read_text(encoding="utf-8"))
    config["embedder"]["model"] = root_config["embedder"]["model"]
    config["embedder"]["relative_to"] = "root model folder"
    write_atomic(path, dump_json(config))
    if (path.parent / "README.md").is_file():
        write_card(path.parent)  # the card is rendered from config.json alone
