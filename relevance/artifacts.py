"""A model is a folder of fixed file names, plain JSON only: nothing is unpickled.

``config.json`` records what the model is and a sha256 of every other file, so
a changed, missing or foreign file is refused at load time with its name.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path, PurePosixPath

from relevance.calibration import Calibrator
from relevance.embed import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder
from relevance.features import FEATURE_NAMES
from relevance.head import LogisticHead
from relevance.lexical import TfidfLexicon
from relevance.model import RelevanceModel
from relevance.threshold import ThresholdChoice

SCHEMA_VERSION = 1
CONFIG = "config.json"
HEAD = "head.json"
TFIDF = "tfidf.json"
REQUIRED = (CONFIG, HEAD, TFIDF)


class ModelLoadError(ValueError):
    """A model folder that is incomplete, altered or built for another embedder."""


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


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def save_model(
    model: RelevanceModel,
    folder: str | Path,
    training: dict | None = None,
    extra: dict | None = None,
    embedder_ref: str | None = None,
) -> Path:
    """Write the model folder. ``embedder_ref`` is the model id or a path inside ``folder``."""
    model._check_fitted()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    embedder = model.get_embedder()
    head = {"head": model.head_.to_json(), "calibrator": model.calibrator_.to_json()}
    _write(folder / HEAD, dump_json(head))
    _write(folder / TFIDF, dump_json(model.lexicon_.to_json()))
    files = {name: sha256_file(folder / name) for name in (HEAD, TFIDF)}
    for rel in (extra or {}).get("files", []):
        files[rel] = sha256_file(folder / rel)
    config = {
        "schema_version": SCHEMA_VERSION,
        "versions": library_versions(),
        "embedder": {
            "model": embedder_ref or embedder.model_id,
            "sha256": embedder.fingerprint,
            "max_tokens": embedder.max_tokens,
            "backend": getattr(embedder, "backend", "torch"),
        },
        "features": model.feature_names_,
        "threshold": model.threshold_,
        "threshold_choice": model.threshold_choice_.to_json(),
        "calibration": {
            "method": model.calibrator_.method,
            "cv_brier": model.report_.calibration_brier,
        },
        "params": {
            "C": model.C,
            "n_splits": model.n_splits,
            "objective": model.objective,
            "min_precision": model.min_precision,
            "min_recall": model.min_recall,
            "calibration": model.calibration,
            "random_state": model.random_state,
        },
        "training_data": training or {},
        "metrics": model.report_.metrics,
        "files": files,
    }
    for key, value in (extra or {}).items():
        if key != "files":
            config[key] = value
    _write(folder / CONFIG, dump_json(_finite(config)))
    return folder


def _finite(obj: object) -> object:
    """NaN is not JSON; record undefined metrics as null."""
    if isinstance(obj, float) and obj != obj:
        return None
    if isinstance(obj, dict):
        return {k: _finite(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_finite(v) for v in obj]
    return obj


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
    for key in ("embedder", "features", "threshold", "files"):
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


def verify_files(folder: Path, config: dict) -> None:
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
        try:
            kinds = [m["type"] for m in json.loads(modules.read_text(encoding="utf-8"))]
        except (ValueError, KeyError, TypeError) as exc:
            raise ModelLoadError(
                f"{modules}: not a sentence-transformers module list ({exc})"
            ) from None
        strange = [k for k in kinds if not str(k).startswith("sentence_transformers.")]
        if strange:
            raise ModelLoadError(
                f"{modules}: module {strange[0]!r} is not a sentence-transformers module; refused"
            )


def make_embedder(folder: Path, config: dict) -> Embedder:
    """The embedder the model was fitted on, from the package or from inside the folder."""
    spec = config["embedder"]
    ref = spec["model"]
    max_tokens = int(spec.get("max_tokens", 256))
    model = None if ref == DEFAULT_MODEL else inside(folder, ref)
    if model is not None:
        check_embedder_folder(folder, model)
    backend = spec.get("backend", "torch")
    if backend == "torch":
        return SentenceTransformerEmbedder(model, max_tokens=max_tokens)
    from relevance.onnx_backend import make_embedder as backend_embedder

    try:
        return backend_embedder(backend, model, max_tokens=max_tokens)
    except ValueError as exc:
        raise ModelLoadError(f"{folder / CONFIG}: {exc}") from None


def load_model(
    folder: str | Path, embedder: Embedder | None = None, backend: str | None = None
) -> RelevanceModel:
    """Load and verify a model folder; ``embedder`` overrides the recorded one if identical.

    ``backend`` picks the head fitted on that embedding backend (``backends/NAME/``
    when it is not the folder's main one) and refuses when the folder has none.
    """
    folder = Path(folder)
    config = read_config(folder)
    verify_files(folder, config)
    if backend is not None and backend != config["embedder"].get("backend", "torch"):
        from relevance.backends import backend_embedder, backend_folder

        # A backend's head shares the root's weights: its encoder is built from the
        # root config, whose embedder path is relative to the root folder.
        sub = backend_folder(folder, config, backend)
        if embedder is None and config["embedder"]["model"] != DEFAULT_MODEL:
            check_embedder_folder(folder, inside(folder, config["embedder"]["model"]))
        return load_model(sub, embedder or backend_embedder(backend, config, folder))
    if config["features"] != FEATURE_NAMES:
        raise ModelLoadError(
            f"{folder / CONFIG}: features {config['features']} differ from this version's "
            f"{FEATURE_NAMES}"
        )
    embedder = embedder or make_embedder(folder, config)
    if embedder.fingerprint != config["embedder"]["sha256"]:
        raise ModelLoadError(
            f"{folder / CONFIG}: the model was fitted on embedder {config['embedder']['model']!r} "
            f"with weights sha256 {config['embedder']['sha256'][:12]}…, but the embedder given "
            f"({embedder.model_id}, backend {getattr(embedder, 'backend', 'torch')}) has "
            f"{embedder.fingerprint[:12]}…; a head is valid only for the embeddings it was "
            "fitted on (see `relevance add-backend`)"
        )
    try:
        head_state = json.loads((folder / HEAD).read_text(encoding="utf-8"))
        model = RelevanceModel(embedder=embedder, **config.get("params", {}))
        model.head_ = LogisticHead.from_json(head_state["head"])
        model.calibrator_ = Calibrator.from_json(head_state["calibrator"])
        model.lexicon_ = TfidfLexicon.from_json(
            json.loads((folder / TFIDF).read_text(encoding="utf-8"))
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ModelLoadError(f"{folder}: malformed head.json or tfidf.json ({exc})") from None
    try:
        model.threshold_ = float(config["threshold"])
        model.threshold_choice_ = ThresholdChoice(**config["threshold_choice"])
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"{folder / CONFIG}: malformed threshold ({exc})") from None
    model.feature_names_ = list(config["features"])
    model.config_ = config
    return model
