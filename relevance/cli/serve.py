"""``relevance serve``: score feeds over HTTP, with the model loaded once per process."""

from __future__ import annotations

import argparse
import ipaddress
import sys

from relevance.cli.options import HELP_FORMAT, levels_of, paragraph
from relevance.serve.settings import BACKENDS, LOG_LEVELS, ServeSettings, SettingsError, parse_flag

EXAMPLES = """examples:
  relevance serve                                  the shipped model on http://127.0.0.1:8000
  relevance serve --model build/m --port 9000 --level story
  relevance serve --host 0.0.0.0 --workers 2       two processes, each with its model copy
  curl -s localhost:8000/v1/score -H 'content-type: application/json' -d @feed.json

endpoints: POST /v1/score (one feed, or {"feeds": [...]}; ?level= ?top_k= ?threshold=
?explain=1), GET /v1/model, /healthz, /readyz, /metrics (Prometheus), /openapi.json.
A worker under a process manager reads the same settings from RELEVANCE_SERVE_* variables
(uvicorn --factory relevance.serve.app:app_from_env). See docs/serve.md.
"""

_DEFAULTS = ServeSettings()


def register_cli(sub: argparse._SubParsersAction) -> None:
    """The ``serve`` subcommand."""
    p = sub.add_parser(
        "serve",
        help="score feeds over HTTP (POST /v1/score), the model loaded once",
        description=paragraph(
            "An HTTP service for live feeds: the model is loaded once per process, "
            "concurrent requests share encoder calls (micro-batching), recurring texts come "
            "from the embedding cache `relevance score` uses, and answers are those of "
            "`relevance score` on the same feeds. Binds to loopback unless --host says otherwise."
        ),
        epilog=EXAMPLES,
        formatter_class=HELP_FORMAT,
    )
    d = _DEFAULTS

    def opt(name: str, help: str, **kw: object) -> None:
        """A flag whose value is parsed and range-checked by the settings' own table."""
        flag = "--" + name.replace("_", "-")
        kw.setdefault("default", getattr(d, name))
        p.add_argument(flag, dest=name, type=parse_flag(name), help=help, **kw)  # type: ignore[arg-type]

    opt("model", "model folder (default: the shipped model, or $RELEVANCE_MODEL)", metavar="DIR")
    p.add_argument(
        "--backend", choices=list(BACKENDS), default=None,
        help="embedding backend (default: the model's own); onnx-int8 needs a head fitted for "
        "it (relevance add-backend)",
    )  # fmt: skip
    p.add_argument(
        "--level", **levels_of(),
        help="the default level: which probability drives probability, relevant and rank "
        "(default: the model's own, topic); ?level= overrides it per request",
    )  # fmt: skip
    opt("threshold", "default keep threshold instead of the level's trained one "
        "(default: the trained one); ?threshold= overrides", metavar="P")  # fmt: skip
    opt("top_k", "keep at most K items per feed (default: no limit); ?top_k= overrides",
        metavar="K")  # fmt: skip
    opt("host", "address to bind; anything but loopback accepts other machines' connections",
        metavar="HOST")  # fmt: skip
    opt("port", "port to listen on; 0 picks a free one", metavar="PORT")
    opt("cache_dir", "embedding cache folder, shared with `relevance score` "
        "(default: $XDG_CACHE_HOME/relevance)", metavar="DIR")  # fmt: skip
    p.add_argument("--no-cache", action="store_true", help="do not use the on-disk embedding cache")
    opt("max_body_mb", "largest request body in MB; a larger one is refused with 413",
        metavar="N")  # fmt: skip
    opt("max_feeds_per_request", "feeds in one request; more is refused with 422", metavar="N")
    opt("max_items_per_feed", "items in one feed; more is refused with 422", metavar="N")
    opt("batch_wait_ms", "how long a batch waits for more requests after its first one, in ms "
        "(0: never wait)", metavar="MS")  # fmt: skip
    opt("max_batch_items", "items in one encoder batch", metavar="N")
    opt("max_queue_items", "items queued or being scored before a new request gets 503 with "
        "Retry-After", metavar="N")  # fmt: skip
    opt("workers", "worker processes, each loading its own copy of the model", metavar="N")
    opt("graceful_timeout", "seconds in-flight requests get to finish after SIGTERM",
        metavar="S")  # fmt: skip
    p.add_argument(
        "--log-level", choices=list(LOG_LEVELS), default=d.log_level, help="uvicorn's log level"
    )
    p.add_argument("--no-access-log", action="store_true", help="no log line per request")
    opt("root_path", "path prefix when a proxy serves the service under one, e.g. /relevance "
        "(default: none)", metavar="PATH")  # fmt: skip
    p.set_defaults(func=run)


def settings_from_args(args: argparse.Namespace) -> ServeSettings:
    """The flags as checked settings, with the default model when --model is not given."""
    names = [f for f in ServeSettings.__dataclass_fields__ if f not in ("use_cache", "access_log")]
    values = {n: getattr(args, n) for n in names}
    values["use_cache"] = not args.no_cache
    values["access_log"] = not args.no_access_log
    return ServeSettings(**values).check().with_model()  # type: ignore[arg-type]


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def run(args: argparse.Namespace) -> int:
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
    who = model_identity(settings.model, model)  # type: ignore[arg-type]
    level = model.resolve_level(settings.level)
    cut = model.thresholds_[level] if settings.threshold is None else settings.threshold
    where = f"http://{settings.host}:{settings.port}" if settings.port else settings.host
    print(
        f"relevance serve: model {who['id']} ({settings.model}, backend {who['backend']}, "
        f"{level} level, threshold {cut:.3f}) on {where}, {settings.workers} "
        f"worker{'s' if settings.workers > 1 else ''}; GET /readyz answers 200 once the "
        "encoder is loaded",
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
