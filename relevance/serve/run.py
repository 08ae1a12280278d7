"""Running the app under uvicorn: one process with the model already loaded, or N workers.

SIGTERM (and Ctrl-C) stop accepting connections, let in-flight requests finish (up to
``graceful_timeout`` seconds), drain the scoring queue, then exit. With ``workers`` > 1
uvicorn's supervisor starts N processes, each loading the model once from the settings
passed in ``RELEVANCE_SERVE_*``; their metrics are merged through a shared folder.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager

from relevance.extras import require
from relevance.model.scorer import Scoring
from relevance.serve.settings import ServeSettings

APP_FACTORY = "relevance.serve.app:app_from_env"


def _config(settings: ServeSettings, app: object, **extra: object):
    uvicorn = require("uvicorn", "serve")
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        log_level=settings.log_level,
        access_log=settings.access_log,
        timeout_graceful_shutdown=int(max(1, round(settings.graceful_timeout))),
        root_path=settings.root_path,
        server_header=False,
        lifespan="on",
        **extra,
    )


class ServeError(RuntimeError):
    """The service could not start (a worker failed to start, the app's start-up failed)."""


@contextmanager
def _absorb_sigterm() -> Iterator[None]:
    """After its graceful stop uvicorn re-raises the signal it got; a SIGTERM is then absorbed.

    So the command returns (exit 0, as a process manager expects of a clean stop) instead
    of dying by the signal; the previous handler is put back afterwards.
    """
    previous = signal.signal(signal.SIGTERM, lambda sig, frame: None)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def serve(settings: ServeSettings, model: Scoring | None = None) -> None:
    """Serve until SIGTERM or Ctrl-C. Blocks; ServeError when it could not start."""
    require("fastapi", "serve")
    uvicorn = require("uvicorn", "serve")
    if settings.workers > 1:
        _serve_workers(settings)
        return
    from relevance.serve.app import create_app

    server = uvicorn.Server(_config(settings, create_app(settings, model)))
    with _absorb_sigterm():
        server.run()
    if not server.started:
        raise ServeError("the service did not start (see the log above)")


def _serve_workers(settings: ServeSettings) -> None:
    """N worker processes; settings and a metrics folder go to them through the environment."""
    from uvicorn.config import STARTUP_FAILURE
    from uvicorn.supervisors import Multiprocess

    folder = tempfile.mkdtemp(prefix="relevance-serve-metrics-")
    env = {**settings.to_env(), "PROMETHEUS_MULTIPROC_DIR": folder}
    saved = {k: os.environ.get(k) for k in env}
    os.environ.update(env)  # read by the spawned workers; restored below
    try:
        config = _config(settings, APP_FACTORY, factory=True, workers=settings.workers)
        supervisor = Multiprocess(config, sockets=[config.bind_socket()])
        supervisor.run()
        if any(p.exitcode == STARTUP_FAILURE for p in supervisor.processes):
            raise ServeError("a worker failed to start (see the log above)")
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        shutil.rmtree(folder, ignore_errors=True)
