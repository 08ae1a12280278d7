"""The service's settings: one table of options, checked the same way from flags and from env.

``relevance serve`` fills them from its flags; a worker started by uvicorn or gunicorn
(``relevance.serve.app:app_from_env``) reads them from ``RELEVANCE_SERVE_*`` variables. Each
value is checked before any work, and a bad one is named with what was expected.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from pathlib import Path

ENV_PREFIX = "RELEVANCE_SERVE_"
LEVELS = ("story", "topic")
BACKENDS = ("torch", "onnx-int8")
LOG_LEVELS = ("critical", "error", "warning", "info", "debug")


class SettingsError(ValueError):
    """A bad setting: the CLI exits 2 with the message, before loading anything."""


def _bool(text: str) -> bool:
    low = text.strip().lower()
    if low in ("1", "true", "yes", "on"):
        return True
    if low in ("0", "false", "no", "off"):
        return False
    raise ValueError(text)


def _optional(parse: Callable[[str], object]) -> Callable[[str], object]:
    return lambda text: None if text.strip().lower() in ("", "none") else parse(text)


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(text)
    return value


def _in(choices: tuple[str, ...]) -> Callable[[object], bool]:
    return lambda v: v in choices


#: name -> (parse from text, check the value, what is expected). The flag is --name-with-dashes.
SPEC: dict[str, tuple[Callable[[str], object], Callable[[object], bool], str]] = {
    "model": (_optional(Path), lambda v: v is None or Path(v).is_dir(), "an existing model folder"),
    "backend": (_optional(str), lambda v: v is None or v in BACKENDS, f"one of {BACKENDS}"),
    "level": (_optional(str), lambda v: v is None or v in LEVELS, f"one of {LEVELS}"),
    "threshold": (
        _optional(_finite),
        lambda v: v is None or 0.0 <= v <= 1.0,  # type: ignore[operator]
        "a probability in [0, 1]",
    ),
    "top_k": (_optional(int), lambda v: v is None or v >= 1, "an integer >= 1"),  # type: ignore[operator]
    "host": (str, lambda v: bool(str(v).strip()), "a host name or IP address"),
    "port": (int, lambda v: 0 <= v <= 65535, "an integer 0-65535 (0: any free port)"),  # type: ignore[operator]
    "cache_dir": (_optional(Path), lambda v: True, "a folder"),
    "use_cache": (_bool, lambda v: True, "true or false"),
    "max_body_mb": (_finite, lambda v: 0 < v <= 1024, "a size in MB in (0, 1024]"),  # type: ignore[operator]
    "max_items_per_feed": (int, lambda v: 1 <= v <= 100_000, "an integer 1-100000"),  # type: ignore[operator]
    "max_feeds_per_request": (int, lambda v: 1 <= v <= 100_000, "an integer 1-100000"),  # type: ignore[operator]
    "batch_wait_ms": (_finite, lambda v: 0 <= v <= 1000, "milliseconds in [0, 1000]"),  # type: ignore[operator]
    "max_batch_items": (int, lambda v: 1 <= v <= 1_000_000, "an integer 1-1000000"),  # type: ignore[operator]
    "max_queue_items": (int, lambda v: 1 <= v <= 10_000_000, "an integer 1-10000000"),  # type: ignore[operator]
    "workers": (int, lambda v: 1 <= v <= 256, "an integer 1-256"),  # type: ignore[operator]
    "graceful_timeout": (_finite, lambda v: 0 < v <= 3600, "seconds in (0, 3600]"),  # type: ignore[operator]
    "log_level": (str, _in(LOG_LEVELS), f"one of {LOG_LEVELS}"),
    "access_log": (_bool, lambda v: True, "true or false"),
    "root_path": (str, lambda v: v == "" or str(v).startswith("/"), "'' or a path like /relevance"),
}


def flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def env_name(name: str) -> str:
    return ENV_PREFIX + name.upper()


@dataclass(frozen=True)
class ServeSettings:
    """Everything one service process needs; see docs/serve.md for each value's meaning."""

    model: Path | None = None
    backend: str | None = None
    level: str | None = None
    threshold: float | None = None
    top_k: int | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    cache_dir: Path | None = None
    use_cache: bool = True
    max_body_mb: float = 10.0
    max_items_per_feed: int = 1000
    max_feeds_per_request: int = 256
    batch_wait_ms: float = 20.0
    max_batch_items: int = 2048
    max_queue_items: int = 8192
    workers: int = 1
    graceful_timeout: float = 30.0
    log_level: str = "info"
    access_log: bool = True
    root_path: str = ""

    def check(self, named: Callable[[str], str] = flag) -> ServeSettings:
        """Self, when every value is in range; else SettingsError naming the first bad one."""
        for f in fields(self):
            value = getattr(self, f.name)
            _, ok, expected = SPEC[f.name]
            bad = isinstance(value, bool) and f.type not in ("bool",)
            if bad or not ok(value):
                raise SettingsError(f"{named(f.name)} {value!s}: expected {expected}")
        if self.max_batch_items > self.max_queue_items:
            raise SettingsError(
                f"--max-batch-items {self.max_batch_items} exceeds --max-queue-items "
                f"{self.max_queue_items}: a batch is taken from the queue"
            )
        return self

    @property
    def max_body_bytes(self) -> int:
        return int(self.max_body_mb * 1024 * 1024)

    def to_env(self) -> dict[str, str]:
        """The settings as ``RELEVANCE_SERVE_*`` variables (what ``from_env`` reads back)."""
        return {env_name(k): "" if v is None else str(v) for k, v in asdict(self).items()}

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **given: object) -> ServeSettings:
        """Settings from ``RELEVANCE_SERVE_*`` (``RELEVANCE_MODEL`` for the model), checked.

        ``given`` values win over the environment; without a model, the default model.
        """
        env = os.environ if environ is None else environ
        values: dict[str, object] = {}
        if env.get("RELEVANCE_MODEL"):
            values["model"] = Path(env["RELEVANCE_MODEL"])
        for name, (parse, _, expected) in SPEC.items():
            text = env.get(env_name(name))
            if text is None:
                continue
            try:
                values[name] = parse(text)
            except ValueError:
                raise SettingsError(f"{env_name(name)}={text!r}: expected {expected}") from None
        values.update(given)
        return cls(**values).check(env_name).with_model()  # type: ignore[arg-type]

    def with_model(self) -> ServeSettings:
        """The settings with a model folder: the one given, else the default model.

        The default is what ``relevance score`` and ``load_model()`` use
        (``relevance.persistence.location``); ModelLoadError when there is none.
        """
        if self.model is not None:
            return self
        from relevance.persistence.location import default_model_dir

        return replace(self, model=default_model_dir())

    def but(self, **changes: object) -> ServeSettings:
        return replace(self, **changes)  # type: ignore[arg-type]


def parse_flag(name: str) -> Callable[[str], object]:
    """An argparse ``type=`` for one setting: the env parser and the range check, one message."""
    parse, ok, expected = SPEC[name]

    def convert(text: str) -> object:
        try:
            value = parse(text)
        except ValueError:
            value = _INVALID
        if value is _INVALID or not ok(value):
            import argparse

            raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
        return value

    convert.__name__ = name
    return convert


_INVALID = object()
