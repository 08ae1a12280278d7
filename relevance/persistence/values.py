"""The values of a model folder, checked for type and range once their hashes match.

A hash only says a file is the one the manifest names; a hand-written or re-signed
``config.json`` can still carry a threshold of ``"0.5"`` or a token window of ``-1``.
Every value that loading uses is checked here, and a wrong one is refused naming the
file, the field, the value and what was expected, before anything is built from it.
"""

from __future__ import annotations

import math
import re
from pathlib import Path

from relevance.persistence.folder import CONFIG, ModelLoadError

#: A token window: positive, and no encoder this library supports reads more.
MAX_TOKENS_LIMIT = 8192
_SHA256 = re.compile(r"[0-9a-f]{64}")


def _refuse(where: Path, field: str, value: object, expected: str) -> ModelLoadError:
    shown = repr(value)
    shown = shown if len(shown) <= 80 else shown[:77] + "..."
    return ModelLoadError(f"{where}: field {field!r}: got {shown}, expected {expected}")


def is_number(value: object) -> bool:
    """A finite JSON number (``true`` is not one, nor a numeric string)."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def positive_int(value: object, limit: int | None = None) -> bool:
    ok = isinstance(value, int) and not isinstance(value, bool) and value > 0
    return ok and (limit is None or value <= limit)  # type: ignore[operator]


def check_config_values(folder: Path, config: dict) -> None:
    """Types and ranges of config.json's fields, thresholds and probabilities in [0, 1]."""
    where = folder / CONFIG
    spec = config["embedder"]
    if not _SHA256.fullmatch(spec["sha256"]):
        raise _refuse(where, "embedder.sha256", spec["sha256"], "64 lower-case hex digits")
    if "max_tokens" in spec and not positive_int(spec["max_tokens"], MAX_TOKENS_LIMIT):
        raise _refuse(
            where,
            "embedder.max_tokens",
            spec["max_tokens"],
            f"a positive integer token window <= {MAX_TOKENS_LIMIT}",
        )
    if "backend" in spec and not isinstance(spec["backend"], str):
        raise _refuse(where, "embedder.backend", spec["backend"], "a backend name")
    features = config["features"]
    if not isinstance(features, list) or not all(isinstance(f, str) for f in features):
        raise _refuse(where, "features", features, "a list of feature names")
    thresholds = config["thresholds"]
    if isinstance(thresholds, dict):
        for level, value in thresholds.items():
            if not is_number(value) or not 0.0 <= value <= 1.0:
                raise _refuse(where, f"thresholds.{level}", value, "a number in [0, 1]")
    choices = config.get("threshold_choices", {})
    if not isinstance(choices, dict):
        raise _refuse(where, "threshold_choices", choices, "an object with one entry per level")
    for level, choice in choices.items():
        if not isinstance(choice, dict):
            raise _refuse(where, f"threshold_choices.{level}", choice, "an object")
        for key in ("threshold", "precision", "recall", "f1"):
            value = choice.get(key)
            if not is_number(value) or not 0.0 <= value <= 1.0:  # type: ignore[operator]
                field = f"threshold_choices.{level}.{key}"
                raise _refuse(where, field, value, "a number in [0, 1]")
        if not isinstance(choice.get("objective"), str):
            field = f"threshold_choices.{level}.objective"
            raise _refuse(where, field, choice.get("objective"), "an objective name")
    params = config.get("params", {})
    if not isinstance(params, dict):
        raise _refuse(where, "params", params, "an object of the estimator's parameters")


def check_tfidf_state(path: Path, state: object) -> None:
    """A vocabulary of distinct words with one finite, positive idf each."""
    if not isinstance(state, dict):
        raise ModelLoadError(f"{path}: expected a JSON object")
    words, idf = state.get("vocabulary"), state.get("idf")
    if not isinstance(words, list) or not all(isinstance(w, str) for w in words):
        raise _refuse(path, "vocabulary", words, "a list of words")
    if len(set(words)) != len(words):
        raise _refuse(path, "vocabulary", "(repeated words)", "distinct words")
    if not isinstance(idf, list) or len(idf) != len(words):
        got = len(idf) if isinstance(idf, list) else idf
        raise _refuse(path, "idf", got, f"a list of {len(words)} numbers, one per word")
    bad = next((v for v in idf if not is_number(v) or v <= 0), None)
    if bad is not None or any(isinstance(v, bool) for v in idf):
        raise _refuse(path, "idf", bad, "finite numbers > 0")
