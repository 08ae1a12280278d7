"""``relevance serve``: score feeds over HTTP, with the model loaded once per process."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path

from relevance.serve.settings import LOG_LEVELS, ServeSettings, SettingsError, parse_flag

_DEFAULTS = ServeSettings(model=Path("."))


def register_cli(sub: argparse._SubParsersAction) -> None:
    """The ``serve`` subcommand."""
    from relevance.cli.main import default_model_dir

    p = sub.add_parser(
        "serve",
        help="score feeds over HTTP (POST /v1/score), the model loaded once",
        description="An HTTP service: POST /v1/score, GET /healthz, /readyz, /metrics, "
        "/openapi.json. See docs/serve.md.",
    )
    d = _DEFAULTS

    def opt(name: str, help: str, **kw: object) -> None:
        flag = "--" + name.replace("_", "-")
        p.add_argument(flag, dest=name, type=parse_flag(name), help=help, **kw)  # type: ignore[arg-type]

    opt("model", "model folder (default: $RELEVANCE_MODEL or models/default)",
        default=default_model_dir())  # fmt: skip
    opt("backend", "embedding backend: torch or onnx-int8 (default: the model's own)")
    opt("level", "default level: story or topic (default: the model's); ?level= overrides")
    opt("threshold", "default keep threshold instead of the trained one; ?threshold= overrides")
    opt("top_k", "default: keep at most K items per feed; ?top_k= overrides")
    opt("host", f"address to bind (default {d.host}, loopback only)", default=d.host)
    opt("port", f"port (default {d.port}; 0 picks a free one)", default=d.port)
    opt("cache_dir", "embedding cache folder, shared with `relevance score` "
        "(default: $XDG_CACHE_HOME/relevance)")  # fmt: skip
    p.add_argument("--no-cache", action="store_true", help="no on-disk embedding cache")
    opt("max_body_mb", f"largest request body, MB (default {d.max_body_mb:g}; larger: 413)",
        default=d.max_body_mb)  # fmt: skip
    opt("max_feeds_per_request", f"feeds in one request (default {d.max_feeds_per_request})",
        default=d.max_feeds_per_request)  # fmt: skip
    opt("max_items_per_feed", f"items in one feed (default {d.max_items_per_feed}; more: 422)",
        default=d.max_items_per_feed)  # fmt: skip
    opt("batch_wait_ms", "how long the first request of a batch waits for others, ms "
        f"(default {d.batch_wait_ms:g}; 0: never wait)", default=d.batch_wait_ms)  # fmt: skip
    opt("max_batch_items", f"items in one encoder batch (default {d.max_batch_items})",
        default=d.max_batch_items)  # fmt: skip
    opt("max_queue_items", "items waiting or being scored before new requests get 503 "
        f"with Retry-After (default {d.max_queue_items})", default=d.max_queue_items)  # fmt: skip
    opt("workers", f"worker processes, each with its own model copy (default {d.workers})",
        default=d.workers)  # fmt: skip
    opt("graceful_timeout", "seconds in-flight requests get to finish on SIGTERM "
        f"(default {d.graceful_timeout:g})", default=d.graceful_timeout)  # fmt: skip
    opt("log_level", f"one of {', '.join(LOG_LEVELS)} (default {d.log_level})",
        default=d.log_level)  # fmt: skip
    p.add_argument("--no-access-log", action="store_true", help="no line per request")
    opt("root_path", "path prefix when served behind a proxy under one (e.g. /relevance)",
        default=d.root_path)  # fmt: skip
    p.set_defaults(func=_serve)


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    names = [f for f in ServeSettings.__dataclass_fields__ if f not in ("use_cache", "access_log")]
    values = {n: getattr(args, n) for n in names if getattr(args, n, None) is not None}
    values["use_cache"] = not args.no_cache
    values["access_log"] = not args.no_access_log
    return ServeSettings(**values).check()  # type: ignore[arg-type]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _serve(args: argparse.Namespace) -> int:
    from relevance.extras import require
    from relevance.serve.run import ServeError, serve

    try:
        settings = settings_from_args(args)
    except SettingsError as exc:
        print(f"relevance serve: error: {exc}", file=sys.stderr)
        return 2
    require("fastapi", "serve")  # a missing extra fails before the model is loaded
    require("uvicorn", "serve")
    require("prometheus_client", "serve")
    from relevance.serve.app import load
    from relevance.serve.scoring import model_identity

    model = load(settings)  # a bad folder or level exits 2 here, before binding
    who = model_identity(settings.model, model)
    level = model.resolve_level(settings.level)
    cut = model.thresholds_[level] if settings.threshold is None else settings.threshold
    where = f"http://{settings.host}:{settings.port}" if settings.port else settings.host
    print(
        f"relevance serve: model {who['id']} (sha256 {who['sha256'][:12]}, backend "
        f"{who['backend']}, {level} level, threshold {cut:.3f}) on {where}, "
        f"{settings.workers} worker{'s' if settings.workers > 1 else ''}; "
        "GET /readyz answers 200 once the encoder is loaded",
        file=sys.stderr,
    )
    if not _loopback(settings.host):
        print(
            f"relevance serve: warning: --host {settings.host} accepts connections from other "
            "machines; the service has no authentication: put it behind a proxy or firewall",
            file=sys.stderr,
        )
    try:
        serve(settings, model if settings.workers == 1 else None)  # workers load their own
    except ServeError as exc:
        print(f"relevance serve: error: {exc}", file=sys.stderr)
        return 1
    print("relevance serve: stopped", file=sys.stderr)
    return 0
