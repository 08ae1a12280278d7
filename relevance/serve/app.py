"""The ASGI app: ``POST /v1/score``, health and readiness, metrics, and the OpenAPI schema.

``create_app(settings, model)`` is what ``relevance serve`` runs; ``app_from_env`` is the
factory a process manager points uvicorn or gunicorn at (settings from
``RELEVANCE_SERVE_*``). The model is loaded once per process, before the first request is
accepted; its encoder's weights load on the scoring thread while ``/healthz`` already
answers and ``/readyz`` says 503 until they are in.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any, Literal

from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from relevance.io.feed_model import Feed
from relevance.io.rejects import jsonable
from relevance.model.levels import LevelError
from relevance.model.scorer import Scoring
from relevance.serve import answer, intake
from relevance.serve.batcher import Job, MicroBatcher, Overloaded, Stopped
from relevance.serve.metrics import Metrics, multiprocess_dir
from relevance.serve.schema import ManyFeeds, ProblemAnswer, Refusal, ScoreAnswer
from relevance.serve.scoring import Options, Scorer, model_identity
from relevance.serve.settings import ServeSettings

log = logging.getLogger("relevance.serve")
#: Bodies or answers larger than this are parsed or encoded off the event loop.
_INLINE_BYTES = 256 * 1024
_INLINE_ROWS = 2000


def load(settings: ServeSettings) -> Scoring:
    """The model folder behind the embedding cache, as ``relevance score`` loads it."""
    import relevance.batch as batch  # looked up at call time, so tests can stand in a fake

    model = batch.prepare_model(
        settings.model, settings.backend, settings.cache_dir, settings.use_cache
    )
    model.resolve_level(settings.level)  # a level the model lacks fails before serving
    return model


class Service:
    """One process's model, batcher and state: starting, warming, ready, failed, stopping."""

    def __init__(self, settings: ServeSettings, model: Scoring | None = None):
        self.settings = settings
        self.model = model
        self.metrics = Metrics()
        self.state = "starting"
        self.error: str | None = None
        self.identity: dict[str, Any] = {}
        self.batcher: MicroBatcher | None = None

    @property
    def loaded(self) -> Scoring:
        """The model; the lifespan loads it before uvicorn accepts the first request."""
        if self.model is None:
            raise RuntimeError("the model is not loaded yet")
        return self.model

    async def start(self) -> None:
        if self.model is None:
            self.model = await run_in_threadpool(load, self.settings)
        self.identity = model_identity(self.settings.model, self.model)
        scorer = Scorer(self.model, self.metrics)
        s = self.settings
        self.batcher = MicroBatcher(
            scorer.run, s.batch_wait_ms / 1000, s.max_batch_items, s.max_queue_items
        )
        self.state = "warming"

        def warm() -> None:
            started = time.perf_counter()
            try:
                scorer.warm_up()
            except Exception as exc:
                self.state, self.error = "failed", f"loading the encoder failed: {exc}"
                log.error("relevance serve: %s", self.error)
                raise
            if self.state == "warming":
                self.state = "ready"
                self.metrics.ready.set(1)
            log.info("ready: encoder loaded in %.1f s", time.perf_counter() - started)

        self.batcher.start(before=warm)

    async def stop(self) -> None:
        """After uvicorn has let in-flight requests finish: drain the queue, end the thread."""
        self.state = "stopping"
        self.metrics.ready.set(0)
        if self.batcher is not None:
            await run_in_threadpool(self.batcher.stop, self.settings.graceful_timeout)
        folder = multiprocess_dir()
        if folder is not None:
            from prometheus_client import multiprocess

            multiprocess.mark_process_dead(os.getpid(), folder)

    def options(
        self, level: str | None, threshold: float | None, top_k: int | None, explain: bool
    ) -> Options:
        """The request's options over the service's defaults; a bad one is a 422."""
        s = self.settings
        try:
            chosen = self.loaded.resolve_level(level or s.level)
        except LevelError as exc:
            raise _query_problem("level", level, str(exc)) from None
        return Options(
            chosen,
            s.threshold if threshold is None else threshold,
            s.top_k if top_k is None else top_k,
            bool(explain),
        )

    def model_block(self, opts: Options) -> dict:
        cut = self.loaded.thresholds_[opts.level] if opts.threshold is None else opts.threshold
        return {
            "id": self.identity["id"],
            "sha256": self.identity["sha256"],
            "level": opts.level,
            "threshold": float(cut),
            "backend": self.identity["backend"],
        }


def _query_problem(name: str, value: object, msg: str) -> intake.Invalid:
    return intake.Invalid(
        [{"loc": ["query", name], "msg": msg, "type": "value_error", "input": value}]
    )


class MetricsMiddleware:
    """Counts every HTTP request by endpoint and status, and times it (pure ASGI: cheap)."""

    def __init__(self, app: Callable[..., Awaitable[None]], metrics: Metrics):
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict, receive: Callable, send: Callable) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, status = time.perf_counter(), [500]

        async def sending(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            endpoint = self.metrics.endpoint(scope.get("path", ""))
            self.metrics.requests.labels(endpoint, scope.get("method", ""), str(status[0])).inc()
            self.metrics.latency.labels(endpoint).observe(time.perf_counter() - start)


def _refuse(svc: Service, status: int, kind: str, content: dict, **headers: str) -> JSONResponse:
    svc.metrics.errors.labels(kind).inc()
    return JSONResponse(content, status_code=status, headers=headers or None)


_SCORE_DOC = """Score one feed (the input schema, as one JSONL line) or `{"feeds": [...]}`.

Items come back in the request's order with `rank`. Refusals: 413 (body over
`--max-body-mb`), 415 (not JSON), 422 (a bad field, named; every problem is listed),
503 (queue full, with `Retry-After`; or the model failed to load)."""


def create_app(settings: ServeSettings, model: Scoring | None = None) -> FastAPI:
    """The service for ``settings``; ``model``, when given, is used instead of loading one."""
    svc = Service(settings, model)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await svc.start()
        try:
            yield
        finally:
            await svc.stop()

    app = FastAPI(
        title="relevance",
        summary="Topic relevance of recommended stories against their article",
        version=_version(),
        lifespan=lifespan,
        root_path=settings.root_path,
    )
    app.state.service = svc
    app.add_middleware(MetricsMiddleware, metrics=svc.metrics)

    @app.exception_handler(RequestValidationError)
    async def bad_query(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {k: v for k, v in e.items() if k in ("loc", "msg", "type", "input")}
            for e in exc.errors()
        ]
        return _refuse(svc, 422, "invalid", {"detail": jsonable(problems)})

    @app.exception_handler(Exception)
    async def internal(request: Request, exc: Exception) -> JSONResponse:
        log.exception("internal error on %s", request.url.path, exc_info=exc)
        return _refuse(svc, 500, "internal", {"detail": f"internal error: {exc}"})

    @app.post(
        "/v1/score",
        summary="Score feeds",
        description=_SCORE_DOC,
        response_model=None,
        responses={
            200: {"model": ScoreAnswer, "description": "the scored feeds"},
            413: {"model": ProblemAnswer, "description": "body too large"},
            415: {"model": Refusal, "description": "not a JSON body"},
            422: {"model": ProblemAnswer, "description": "invalid request, every problem named"},
            503: {"model": Refusal, "description": "queue full (Retry-After) or not loaded"},
        },
        openapi_extra={"requestBody": _request_body()},
    )
    async def score(
        request: Request,
        level: Literal["story", "topic"] | None = Query(
            None, description="which probability drives probability, relevant and rank"
        ),
        top_k: int | None = Query(None, ge=1, description="keep at most K items per feed"),
        threshold: float | None = Query(
            None, ge=0, le=1, description="keep at this probability instead of the trained one"
        ),
        explain: bool = Query(
            False,
            description="add per item the article passage it matched best and the names or "
            "terms both share (passage, shared), as `relevance score --explain`",
        ),
    ) -> Response:
        s = svc.settings
        batcher = svc.batcher
        if batcher is None:
            return _refuse(svc, 503, "not_ready", {"detail": "starting"}, **{"Retry-After": "1"})
        with batcher.arriving():
            try:
                opts = svc.options(level, threshold, top_k, explain)
                intake.check_headers(
                    request.headers.get("content-type"), request.headers.get("content-encoding")
                )
                body = await intake.read_body(
                    request.stream(), s.max_body_bytes, request.headers.get("content-length")
                )
                args = (body, s.max_feeds_per_request, s.max_items_per_feed)
                if len(body) > _INLINE_BYTES:
                    parsed = await run_in_threadpool(intake.parse, *args)
                else:
                    parsed = intake.parse(*args)
            except intake.Unsupported as exc:
                return _refuse(svc, 415, "unsupported", {"detail": str(exc)})
            except intake.TooLarge as exc:
                problem = {"loc": ["body"], "msg": str(exc), "type": "too_large"}
                content = {"detail": [problem]}
                return _refuse(svc, 413, "too_large", content, Connection="close")
            except intake.Invalid as exc:
                content = {"detail": exc.problems, "problems": exc.total}
                return _refuse(svc, 422, "invalid", content)
            if svc.state in ("failed", "stopping"):
                reason = svc.error or f"the service is {svc.state}"
                return _refuse(svc, 503, "not_ready", {"detail": reason}, **{"Retry-After": "5"})
            job = Job(parsed.frame, parsed.items, key=opts)
            try:
                future = batcher.submit(job)
            except Overloaded as exc:
                headers = {"Retry-After": str(exc.retry_after)}
                return _refuse(svc, 503, "overloaded", {"detail": str(exc)}, **headers)
            except Stopped as exc:
                content = {"detail": str(exc)}
                return _refuse(svc, 503, "not_ready", content, **{"Retry-After": "5"})
        svc.metrics.queue_items.set(batcher.pending)
        result = await asyncio.wrap_future(future)
        svc.metrics.queue_items.set(batcher.pending)
        block = svc.model_block(opts)
        if len(result.frame) > _INLINE_ROWS:
            content = await run_in_threadpool(_encode, result.frame, block)
        else:
            content = _encode(result.frame, block)
        wait = max((job.started or job.arrived) - job.arrived, 0.0)
        timing = (
            f"queue;dur={wait * 1000:.1f}, model;dur={result.batch_seconds * 1000:.1f}, "
            f'batch;desc="{result.batch_feeds} feeds"'
        )
        return Response(content, media_type="application/json", headers={"Server-Timing": timing})

    @app.get("/v1/model", summary="The model, its levels and thresholds, and the limits")
    async def model_info() -> dict:
        return {
            "model": svc.identity,
            "defaults": {
                "level": svc.loaded.resolve_level(settings.level),
                "threshold": settings.threshold,
                "top_k": settings.top_k,
            },
            "limits": {
                "max_body_mb": settings.max_body_mb,
                "max_feeds_per_request": settings.max_feeds_per_request,
                "max_items_per_feed": settings.max_items_per_feed,
                "max_queue_items": settings.max_queue_items,
            },
        }

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict:
        return {"status": "ok"}

    @app.get("/readyz", summary="The model is loaded and warm: send traffic")
    async def readyz() -> JSONResponse:
        if svc.state == "ready":
            return JSONResponse({"status": "ready", "model": svc.identity})
        content = {"status": svc.state, "detail": svc.error}
        return JSONResponse(content, status_code=503, headers={"Retry-After": "1"})

    @app.get("/metrics", summary="Prometheus metrics", response_class=Response)
    async def metrics() -> Response:
        if svc.batcher is not None:
            svc.metrics.queue_items.set(svc.batcher.pending)
        return Response(svc.metrics.render(), media_type=svc.metrics.content_type)

    app.openapi = lambda: _openapi(app)  # type: ignore[method-assign]
    return app


def _encode(frame: Any, block: dict) -> bytes:
    return answer.encode(answer.feeds_json(frame), block)


def _request_body() -> dict:
    ref = "#/components/schemas/{model}"
    return {
        "required": True,
        "content": {
            "application/json": {
                "schema": {"oneOf": [{"$ref": ref.format(model=m)} for m in ("Feed", "ManyFeeds")]}
            }
        },
    }


def _openapi(app: FastAPI) -> dict:
    """FastAPI's schema, plus the input schema's models the request body refers to."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, summary=app.summary, routes=app.routes
        )
        ref = "#/components/schemas/{model}"
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (Feed, ManyFeeds):
            found = model.model_json_schema(ref_template=ref)
            components.update(found.pop("$defs", {}))
            components[model.__name__] = found
        app.openapi_schema = schema
    return app.openapi_schema


def _version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("relevance")
    except PackageNotFoundError:
        return "0"


def app_from_env() -> FastAPI:
    """The app for uvicorn's ``--factory`` or gunicorn: settings from ``RELEVANCE_SERVE_*``."""
    return create_app(ServeSettings.from_env())
