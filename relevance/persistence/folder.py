"""A model folder's layout and trust: where its files are, and that they are its own.

``config.json`` records what the model is and a sha256 of every other file, so a
changed, missing, linked or foreign file is refused at load time with its name.
Nothing here builds a model; ``relevance.persistence.artifacts`` does.
"""

from __future__ import annotations

import json
from importlib import metadata
from pathlib import Path, PurePosixPath

from relevance.io.files import sha256_file

SCHEMA_VERSION = 2
CONFIG = "config.json"
HEAD = "head.json"
TFIDF = "tfidf.json"
#: Digests of the training texts (``relevance.io.text.content_digests``), when recorded.
TRAINING_TEXTS = "training_texts.json"
REQUIRED = (CONFIG, HEAD, TFIDF)


class ModelLoadError(ValueError):
    """A model folder that is incomplete, altered or built for another embedder."""


def library_versions() -> dict[str, str]:
    out = {}
    for name in ("relevance", "scikit-learn", "sentence-transformers", "torch", "numpy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def dump_json(obj: object) -> str:
    """Deterministic JSON, so the same model gives byte-identical files."""
    return json.dumps(obj, indent=2, sort_keys=True, ensure_ascii=False, allow_nan=False) + "\n"


def inside(folder: Path, rel: str) -> Path:
    """Resolve a path named in a config, refusing anything outside the model folder."""
    pure = PurePosixPath(rel)
    if pure.is_absolute() or ".." in pure.parts or not rel:
        raise ModelLoadError(f"{folder / CONFIG}: path {rel!r} points outside the model folder")
    path = (folder / pure).resolve()
    if not path.is_relative_to(folder.resolve()):
        raise ModelLoadError(f"{folder / CONFIG}: path {rel!r} points outside the model folder")
    return path


def read_config(folder: str | Path) -> dict:
    folder = Path(folder)
    if not folder.is_dir():
        raise ModelLoadError(f"{folder}: not a model folder (no such directory)")
    missing = [name for name in REQUIRED if not (folder / name).is_file()]
    if missing:
        raise ModelLoadError(
            f"{folder}: missing {', '.join(missing)} (a model folder has {REQUIRED})"
        )
    path = inside(folder, CONFIG)  # a config.json linked from elsewhere is not this folder's
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ModelLoadError(f"{folder / CONFIG}: not valid JSON ({exc})") from None
    if not isinstance(config, dict):
        raise ModelLoadError(f"{folder / CONFIG}: expected a JSON object")
    if config.get("schema_version") != SCHEMA_VERSION:
        raise ModelLoadError(
            f"{folder / CONFIG}: schema_version {config.get('schema_version')!r}, "
            f"expected {SCHEMA_VERSION}"
        )
    for key in ("embedder", "features", "levels", "default_level", "thresholds", "files"):
        if key not in config:
            raise ModelLoadError(f"{folder / CONFIG}: missing field {key!r}")
    files, spec = config["files"], config["embedder"]
    if not isinstance(files, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in files.items()
    ):
        raise ModelLoadError(f"{folder / CONFIG}: 'files' must map file names to sha256 hex")
    if not (isinstance(spec, dict) and isinstance(spec.get("model"), str)):
        raise ModelLoadError(f"{folder / CONFIG}: 'embedder' must name its model")
    if not isinstance(spec.get("sha256"), str):
        raise ModelLoadError(f"{folder / CONFIG}: 'embedder' must record its sha256")
    return config


#: The model card, rendered from config.json and hashed in it like every other file.
CARD = "README.md"


def verify_files(folder: Path, config: dict) -> None:
    """The folder is exactly its manifest: every listed file matches, no other file is there."""
    for rel, expected in sorted(config["files"].items()):
        path = inside(folder, rel)
        if not path.is_file():
            raise ModelLoadError(f"{path}: missing (listed in {CONFIG})")
        actual = sha256_file(path)
        if actual != expected:
            raise ModelLoadError(
                f"{path}: sha256 {actual[:12]}… differs from {expected[:12]}… in {CONFIG}; "
                "the file was changed after the model was saved"
            )
    for name in (HEAD, TFIDF):
        if name not in config["files"]:
            raise ModelLoadError(f"{folder / CONFIG}: no hash recorded for {name}")
    unlisted = unlisted_files(folder, config)
    if unlisted:
        shown = ", ".join(unlisted[:5]) + (
            f" and {len(unlisted) - 5} more" if len(unlisted) > 5 else ""
        )
        hint = ""
        if any(PurePosixPath(rel).name == CARD for rel in unlisted):
            hint = (
                f"; a {CARD} card from before cards were hashed is listed by re-rendering it: "
                f"python -m relevance.train.card {folder}"
            )
        raise ModelLoadError(
            f"{folder}: {shown}: not listed in {CONFIG}; a model folder holds only the files its "
            f"manifest hashes, so an unlisted file is refused rather than read{hint}"
        )


def unlisted_files(folder: Path, config: dict) -> list[str]:
    """Every path under ``folder`` (hidden files and links too) that the manifest does not list."""
    listed = set(config["files"]) | {CONFIG}
    out = []
    for path in sorted(folder.rglob("*")):
        if path.is_dir() and not path.is_symlink():
            continue
        rel = path.relative_to(folder).as_posix()
        if rel not in listed:
            out.append(rel)
    return out


#: Weight formats that are pickles underneath: loading one can run code, so none is loaded.
PICKLE_SUFFIXES = (".pkl", ".pickle", ".joblib", ".bin", ".pt", ".pth", ".ckpt")


def check_embedder_folder(folder: Path, path: Path) -> None:
    """An encoder shipped inside a model folder: a folder of safetensors, standard modules."""
    if not path.is_dir():
        raise ModelLoadError(f"{path}: the embedder named in {folder / CONFIG} is not a folder")
    root = folder.resolve()
    for file in sorted(path.rglob("*")):
        if not file.resolve().is_relative_to(root):
            raise ModelLoadError(f"{file}: links outside the model folder; refused")
        if file.name.lower().endswith(PICKLE_SUFFIXES):
            raise ModelLoadError(
                f"{file}: pickle-based weights are never loaded (loading them can run code); "
                "save the embedder as safetensors"
            )
    modules = path / "modules.json"
    if modules.is_file():
        kinds = [m["type"] for m in check_modules(modules, path)]
        strange = [k for k in kinds if not k.startswith("sentence_transformers.")]
        if strange:
            raise ModelLoadError(
                f"{modules}: module {strange[0]!r} is not a sentence-transformers module; refused"
            )


def check_modules(modules: Path, embedder: Path) -> list[dict]:
    """A sentence-transformers ``modules.json``: every path relative and inside the embedder.

    Checked here, not left to sentence-transformers, so a bad entry is refused naming it.
    """
    try:
        entries = json.loads(modules.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise ModelLoadError(
            f"{modules}: not a sentence-transformers module list ({exc})"
        ) from None
    if not isinstance(entries, list) or not entries:
        raise ModelLoadError(f"{modules}: expected a non-empty list of modules")
    root = embedder.resolve()
    for i, entry in enumerate(entries):
        if not isinstance(entry, dict) or not isinstance(entry.get("type"), str):
            raise _module_error(modules, i, "type", entry, "an object naming its module type")
        rel = entry.get("path", "")
        if not isinstance(rel, str):
            raise _module_error(modules, i, "path", rel, "a relative path (a string)")
        pure = PurePosixPath(rel)
        target = (embedder / pure).resolve()
        if (
            pure.is_absolute()
            or ".." in pure.parts
            or "\\" in rel
            or not target.is_relative_to(root)
        ):
            raise _module_error(modules, i, "path", rel, "a relative path inside the embedder")
        if rel and not target.is_dir():
            raise _module_error(modules, i, "path", rel, "a folder of the embedder (none there)")
        idx = entry.get("idx", 0)
        if not (isinstance(idx, int) and not isinstance(idx, bool) and idx >= 0):
            raise _module_error(modules, i, "idx", idx, "an integer >= 0")
    return entries


def _module_error(modules: Path, i: int, key: str, value: object, expected: str) -> ModelLoadError:
    return ModelLoadError(
        f"{modules}: module [{i}] field {key!r}: got {value!r}, expected {expected}"
    )
