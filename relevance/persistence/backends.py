"""Heads for other embedding backends, kept inside the same model folder.

A head and its threshold are fitted on one backend's embeddings; int8 ONNX
moves cosines by up to ~0.03, enough to move items across the threshold, so a
head never serves another backend. A folder's main head is in its root; a head
for another backend is a complete model folder under ``backends/NAME/`` whose
three files are hashed in the root ``config.json``, so they are verified like
the rest. Adding one (``relevance.train.add_backend``) leaves the root head and every existing
field untouched.
"""

from __future__ import annotations

import json
from pathlib import Path

from relevance.embed.encoder import DEFAULT_MODEL, Embedder
from relevance.embed.onnx import BACKENDS, make_embedder
from relevance.io.files import sha256_file, write_atomic
from relevance.persistence.folder import (
    CONFIG,
    HEAD,
    TFIDF,
    ModelLoadError,
    dump_json,
    inside,
)

BACKENDS_DIR = "backends"


def main_backend(config: dict) -> str:
    return str(config["embedder"].get("backend", "torch"))


def available(config: dict) -> list[str]:
    """Backends a folder can score with: its main one, then the added ones."""
    extra = sorted(
        rel.split("/")[1]
        for rel in config["files"]
        if rel.startswith(f"{BACKENDS_DIR}/") and rel.endswith(f"/{CONFIG}")
    )
    return [main_backend(config), *extra]


def backend_folder(folder: Path, config: dict, backend: str) -> Path:
    """The sub-folder holding ``backend``'s head, or a ModelLoadError saying how to fit one."""
    if backend not in BACKENDS:
        raise ModelLoadError(f"unknown backend {backend!r}; choose one of {', '.join(BACKENDS)}")
    if f"{BACKENDS_DIR}/{backend}/{CONFIG}" not in config["files"]:
        main = main_backend(config)
        raise ModelLoadError(
            f"{folder}: no head for backend {backend!r}. Its head and threshold were fitted on "
            f"{main!r} embeddings and do not carry over ({backend} moves cosines by up to "
            f"~0.03); this folder has heads for: {', '.join(available(config))}. Fit one on "
            f"the training data with: relevance add-backend {folder} DATA... --backend "
            f"{backend} [--meta FILE --group-by FIELD]"
        )
    return inside(folder, f"{BACKENDS_DIR}/{backend}")


def backend_embedder(
    backend: str, config: dict, folder: Path, cache_dir: str | Path | None = None
) -> Embedder:
    """The encoder of ``backend`` for the same weights as the folder's main embedder."""
    spec = config["embedder"]
    model = None if spec["model"] == DEFAULT_MODEL else inside(folder, spec["model"])
    kw: dict = {"max_tokens": int(spec.get("max_tokens", 256))}
    if backend != "torch" and cache_dir is not None:
        kw["cache_dir"] = Path(cache_dir)
    return make_embedder(backend, model, **kw)


def register(folder: Path, backend: str) -> None:
    """Hash ``backends/NAME/*`` into the root config; every other byte stays as it was."""
    path = folder / CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    sub = json.loads((folder / BACKENDS_DIR / backend / CONFIG).read_text(encoding="utf-8"))
    # The sub-folder's own manifest names its files (training_texts.json too): all hashed
    # here, so the root manifest stays closed over the whole tree.
    for name in sorted({CONFIG, HEAD, TFIDF, *sub.get("files", {})}):
        rel = f"{BACKENDS_DIR}/{backend}/{name}"
        config["files"][rel] = sha256_file(folder / rel)
    config.setdefault("backends", {})[backend] = f"{BACKENDS_DIR}/{backend}"
    write_atomic(path, dump_json(config))
