"""Save and load a model folder: plain JSON and safetensors only, nothing is unpickled.

The layout and its checks (hashes, paths inside the folder, safe embedder folders) are
``relevance.persistence.folder``; heads for other backends are
``relevance.persistence.backends``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from relevance.embed.encoder import DEFAULT_MODEL, Embedder, SentenceTransformerEmbedder
from relevance.io.files import sha256_file, write_atomic
from relevance.model.features import FEATURE_NAMES, feature_names
from relevance.model.levels import LEVELS, LevelHead
from relevance.model.lexical import TfidfLexicon
from relevance.model.names import NameExtractor
from relevance.model.scorer import FittedRelevance
from relevance.model.threshold import ThresholdChoice
from relevance.persistence.folder import (
    CONFIG,
    HEAD,
    SCHEMA_VERSION,
    TFIDF,
    TRAINING_TEXTS,
    ModelLoadError,
    check_embedder_folder,
    dump_json,
    inside,
    library_versions,
    read_config,
    verify_files,
)
from relevance.persistence.location import model_dir, model_identity
from relevance.persistence.values import check_config_values, check_tfidf_state

if TYPE_CHECKING:  # the estimator imports scikit-learn: only load_model and save_model need it
    from relevance.model.estimator import RelevanceModel


def save_model(
    model: RelevanceModel,
    folder: str | Path,
    training: dict | None = None,
    extra: dict | None = None,
    embedder_ref: str | None = None,
    trained_on: dict[str, list[str]] | None = None,
) -> Path:
    """Write the model folder. ``embedder_ref`` is the model id or a path inside ``folder``.

    ``trained_on`` (``relevance.io.text.content_digests`` of the training table) is kept
    as ``training_texts.json``, so evaluation can tell in-sample feeds by their content.
    """
    model._check_fitted()
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    embedder = model.embedder_
    write_atomic(folder / HEAD, dump_json(model.head_.to_json()))
    write_atomic(folder / TFIDF, dump_json(model.lexicon_.to_json()))
    names = [HEAD, TFIDF]
    if trained_on is not None:
        write_atomic(folder / TRAINING_TEXTS, dump_json(trained_on))
        names.append(TRAINING_TEXTS)
    files = {name: sha256_file(folder / name) for name in names}
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
        "levels": list(model.levels_),
        "default_level": model.default_level_,
        "thresholds": dict(model.thresholds_),
        "threshold_choices": {k: c.to_json() for k, c in model.threshold_choices_.items()},
        "calibration": {
            stage: {"method": cal.method, "cv_brier": model.report_.calibration_brier[stage]}
            for stage, cal in model.head_.calibrators.items()
        },
        "params": {
            "C": model.C,
            "n_splits": model.n_splits,
            "objective": model.objective,
            "min_precision": model.min_precision,
            "min_recall": model.min_recall,
            "calibration": model.calibration,
            "random_state": model.random_state,
            "length_features": model.length_features,
        },
        "training_data": training or {},
        "metrics": model.report_.metrics,
        "files": files,
    }
    for key, value in (extra or {}).items():
        if key != "files":
            config[key] = value
    write_atomic(folder / CONFIG, dump_json(_finite(config)))
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
        return with_manifest(SentenceTransformerEmbedder(model, max_tokens=max_tokens), config)
    from relevance.embed.onnx import make_embedder as backend_embedder

    try:
        return with_manifest(backend_embedder(backend, model, max_tokens=max_tokens), config)
    except ValueError as exc:
        raise ModelLoadError(f"{folder / CONFIG}: {exc}") from None


def with_manifest(embedder: Embedder, config: dict) -> Embedder:
    """Give an encoder from inside a verified folder that folder's hashes of its files.

    Its embedding-cache key is then derived from the verified manifest (see
    ``relevance.embed.encoder.cache_key``): only a folder that passed verification can
    write into the shared cache, and under a key that no other folder's files give.
    """
    ref = config["embedder"]["model"]
    if ref != DEFAULT_MODEL and hasattr(embedder, "manifest"):
        prefix = ref.rstrip("/") + "/"
        embedder.manifest = {  # type: ignore[attr-defined]
            rel[len(prefix) :]: sha
            for rel, sha in config["files"].items()
            if rel.startswith(prefix)
        }
    return embedder


def load_model(
    folder: str | Path | None = None,
    embedder: Embedder | None = None,
    backend: str | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> RelevanceModel:
    """Load and verify a model folder (default: the shipped default model).

    ``embedder`` overrides the recorded one if identical. ``backend`` picks the head
    fitted on that embedding backend (``backends/NAME/`` when it is not the folder's main
    one) and refuses when the folder has none. With ``cache`` (the default) the encoder
    sits behind the same on-disk embedding cache as the CLI (``cache_dir``, default
    ``$XDG_CACHE_HOME/relevance``), so texts scored before are never encoded again.

    The model is the scikit-learn estimator, its recorded parameters checked as
    ``fit`` checks them; ``load_scorer`` loads the same model for scoring alone.
    """
    from relevance.model.estimator import RelevanceModel

    fitted = load_scorer(folder, embedder, backend, cache, cache_dir)
    params = {**fitted.params_, "length_features": fitted.length_features}
    try:
        model = RelevanceModel(embedder=fitted.embedder, **params)
        model._check_params()
    except (ValueError, TypeError) as exc:
        where = fitted.folder_ / CONFIG
        raise ModelLoadError(f"{where}: field 'params': {exc}") from None
    fitted_attributes = {k: v for k, v in vars(fitted).items() if k.endswith("_")}
    fitted_attributes.pop("params_")
    vars(model).update(fitted_attributes)
    return model


def load_scorer(
    folder: str | Path | None = None,
    embedder: Embedder | None = None,
    backend: str | None = None,
    cache: bool = True,
    cache_dir: str | Path | None = None,
) -> FittedRelevance:
    """``load_model`` for scoring alone: the same checks and scores, no scikit-learn.

    What batch scoring and the service load: importing scikit-learn takes seconds, and
    a cache-warm run needs none of it. The training parameters are kept as recorded
    (``params_``, a JSON object) and checked only when an estimator is built from them.
    """
    root = model_dir(folder)
    model = _load(root, embedder, backend)
    model.identity_ = model_identity(root)
    if backend is not None and backend != read_config(root)["embedder"].get("backend", "torch"):
        model.identity_["id"] += f"/{backend}"
    if cache:
        from relevance.embed.cache import cached

        inner = model.embedder_
        if cache_dir is not None and hasattr(inner, "cache_dir"):
            inner.cache_dir = Path(cache_dir)  # the onnx export lives in the cache folder too
        model.embedder_ = cached(inner, cache_dir)
    return model


def _load(folder: Path, embedder: Embedder | None, backend: str | None) -> FittedRelevance:
    config = read_config(folder)
    verify_files(folder, config)
    check_config_values(folder, config)
    if backend is not None and backend != config["embedder"].get("backend", "torch"):
        from relevance.persistence.backends import backend_embedder, backend_folder

        # A backend's head shares the root's weights: its encoder is built from the
        # root config, whose embedder path is relative to the root folder.
        sub = backend_folder(folder, config, backend)
        if embedder is None and config["embedder"]["model"] != DEFAULT_MODEL:
            check_embedder_folder(folder, inside(folder, config["embedder"]["model"]))
        made = embedder or with_manifest(backend_embedder(backend, config, folder), config)
        return _load(sub, made, None)
    layouts = {False: feature_names(False), True: feature_names(True)}
    length_features = next((k for k, v in layouts.items() if config["features"] == v), None)
    if length_features is None:
        raise ModelLoadError(
            f"{folder / CONFIG}: features {config['features']} differ from this version's "
            f"{layouts[True]} (or {FEATURE_NAMES}, without the long-article copies)"
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
        tfidf_state = json.loads((folder / TFIDF).read_text(encoding="utf-8"))
        check_tfidf_state(folder / TFIDF, tfidf_state)
        # The layout the head was fitted on decides (a folder from before the parameter)
        model = FittedRelevance(embedder, config.get("params", {}), length_features)
        model.head_ = LevelHead.from_json(head_state, len(config["features"]))
        model.lexicon_ = TfidfLexicon.from_json(tfidf_state)
    except ModelLoadError:
        raise
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise ModelLoadError(f"{folder}: malformed head.json or tfidf.json ({exc})") from None
    levels = _levels(folder, config, model.head_.levels)
    try:
        model.threshold_choices_ = {
            level: ThresholdChoice(**config["threshold_choices"][level]) for level in levels
        }
    except (KeyError, ValueError, TypeError) as exc:
        raise ModelLoadError(f"{folder / CONFIG}: malformed threshold_choices ({exc})") from None
    model.embedder_ = embedder
    model.levels_ = levels
    model.default_level_ = config["default_level"]
    model.thresholds_ = {level: float(config["thresholds"][level]) for level in levels}
    model.classes_ = np.array([0, 1, 2]) if "topic" in levels else np.array([0, 1])
    model.names_ = NameExtractor()
    model.feature_names_ = list(config["features"])
    model.config_ = config
    model.folder_ = folder
    return model


def training_texts(model: FittedRelevance | RelevanceModel) -> dict[str, set[str]] | None:
    """The digests of the texts a loaded model was trained on, if its folder records them."""
    folder = getattr(model, "folder_", None)
    config = getattr(model, "config_", None) or {}
    if folder is None or TRAINING_TEXTS not in config.get("files", {}):
        return None
    try:
        state = json.loads((Path(folder) / TRAINING_TEXTS).read_text(encoding="utf-8"))
        return {kind: set(state[kind]) for kind in ("articles", "items")}
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise ModelLoadError(f"{Path(folder) / TRAINING_TEXTS}: malformed ({exc})") from None


def _levels(folder: Path, config: dict, head_levels: tuple[str, ...]) -> tuple[str, ...]:
    """The config's levels, default level and thresholds, checked against the head's stages."""
    where = folder / CONFIG
    levels = config.get("levels")
    if not isinstance(levels, list) or tuple(sorted(levels)) != tuple(sorted(head_levels)):
        raise ModelLoadError(
            f"{where}: field 'levels': got {levels!r}, expected {list(head_levels)} "
            f"(the levels of {HEAD})"
        )
    if config.get("default_level") not in levels:
        raise ModelLoadError(
            f"{where}: field 'default_level': got {config.get('default_level')!r}, "
            f"expected one of {levels}"
        )
    thresholds = config.get("thresholds")
    if not isinstance(thresholds, dict) or set(thresholds) != set(levels):
        raise ModelLoadError(
            f"{where}: field 'thresholds': got {thresholds!r}, expected one per level {levels}"
        )
    for level, value in thresholds.items():
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not (0.0 <= float(value) <= 1.0):
            raise ModelLoadError(
                f"{where}: field 'thresholds.{level}': got {value!r}, expected a number in [0, 1]"
            )
    return tuple(level for level in LEVELS if level in levels)
