"""Heads for other embedding backends, kept inside the same model folder.

A head and its threshold are fitted on one backend's embeddings; int8 ONNX
moves cosines by up to ~0.03, enough to move items across the threshold, so a
head never serves another backend. A folder's main head is in its root; a head
for another backend is a complete model folder under ``backends/NAME/`` whose
three files are hashed in the root ``config.json``, so they are verified like
the rest. Adding one leaves the root head and every existing field untouched.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path

from relevance.artifacts import (
    CONFIG,
    HEAD,
    TFIDF,
    ModelLoadError,
    _write,
    dump_json,
    inside,
    read_config,
    sha256_file,
    verify_files,
)
from relevance.embed import DEFAULT_MODEL, Embedder
from relevance.model import RelevanceModel
from relevance.onnx_backend import BACKENDS

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
    from relevance.onnx_backend import make_embedder

    spec = config["embedder"]
    model = None if spec["model"] == DEFAULT_MODEL else inside(folder, spec["model"])
    kw: dict = {"max_tokens": int(spec.get("max_tokens", 256))}
    if backend != "torch" and cache_dir is not None:
        kw["cache_dir"] = Path(cache_dir)
    return make_embedder(backend, model, **kw)


def add_backend(
    model_dir: str | Path,
    data: list[str | Path],
    backend: str,
    meta: str | Path | None = None,
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
    from relevance.cache import cached
    from training.pipeline import train

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
    tmp = parent / f".{backend}.tmp-{os.getpid()}"
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
    return model


def _root_relative_embedder(path: Path, root_config: dict) -> None:
    """Name the root's weights as the root names them, never by an absolute path.

    The encoder of a backend head is always built from the root config (see
    ``load_model``), so the folder stays valid wherever it is copied.
    """
    config = json.loads(path.read_text(encoding="utf-8"))
    config["embedder"]["model"] = root_config["embedder"]["model"]
    config["embedder"]["relative_to"] = "root model folder"
    _write(path, dump_json(config))
    if (path.parent / "README.md").is_file():
        from training.card import write_card

        write_card(path.parent)  # the card is rendered from config.json alone


def register(folder: Path, backend: str) -> None:
    """Hash ``backends/NAME/*`` into the root config; every other byte stays as it was."""
    path = folder / CONFIG
    config = json.loads(path.read_text(encoding="utf-8"))
    for name in (CONFIG, HEAD, TFIDF):
        rel = f"{BACKENDS_DIR}/{backend}/{name}"
        config["files"][rel] = sha256_file(folder / rel)
    config.setdefault("backends", {})[backend] = f"{BACKENDS_DIR}/{backend}"
    _write(path, dump_json(config))


# -- command line ------------------------------------------------------------------------


def register_cli(sub: argparse._SubParsersAction) -> None:
    """The ``add-backend`` subcommand (kept here so cli.py stays one block per command)."""
    p = sub.add_parser(
        "add-backend", help="fit a head for another embedding backend into a model folder"
    )
    p.add_argument("model", type=Path, help="model folder to add the head to")
    p.add_argument("data", nargs="+", type=Path, help="the labelled feeds it was trained on")
    p.add_argument("--backend", required=True, choices=[b for b in BACKENDS])
    p.add_argument("--meta", type=Path, default=None, help="JSONL with a record per feed_id")
    p.add_argument("--group-by", default=None, help="fold groups, e.g. anchor.story")
    p.add_argument("--seed", type=int, default=None, help="default: the folder's own seed")
    p.add_argument("--cache-dir", type=Path, default=None, help="embedding cache folder")
    p.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    try:
        model = add_backend(
            args.model,
            args.data,
            args.backend,
            meta=args.meta,
            group_by=args.group_by,
            seed=args.seed,
            cache_dir=args.cache_dir,
            use_cache=not args.no_cache,
        )
    except ValueError as exc:
        if isinstance(exc, ModelLoadError):
            raise
        print(f"relevance add-backend: error: {exc}", file=sys.stderr)
        return 2
    m = model.report_.metrics
    print(
        f"added {args.model / BACKENDS_DIR / args.backend}: out-of-fold average precision "
        f"{m['oof_average_precision']:.4f}, threshold {model.threshold_:.4f} "
        f"(precision {m['oof_precision']:.3f}, recall {m['oof_recall']:.3f}, F1 {m['oof_f1']:.3f})"
    )
    return 0
