"""The service's Prometheus metrics, in a registry of its own (no global state is touched).

With several worker processes, set ``PROMETHEUS_MULTIPROC_DIR`` (``relevance serve
--workers N`` does) and every scrape answers the sum over all workers.
"""

from __future__ import annotations

import os

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

#: Request latency buckets, seconds: a cached feed answers in milliseconds, a cold one in ~1 s.
LATENCY_BUCKETS = (0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096)
#: Paths reported by name; anything else is "other", so a scanner cannot grow the label set.
ENDPOINTS = ("/v1/score", "/v1/model", "/healthz", "/readyz", "/metrics", "/openapi.json", "/docs")


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """Counters and histograms of one service process."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.requests = Counter(
            "relevance_requests", "HTTP requests answered", ["endpoint", "method", "status"],
            registry=r,
        )  # fmt: skip
        self.latency = Histogram(
            "relevance_request_duration_seconds",
            "Time from the request's arrival to its answer",
            ["endpoint"],
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.errors = Counter(
            "relevance_errors",
            "Requests refused or failed, by kind: invalid (422), too_large (413), "
            "unsupported (415), overloaded (503), not_ready (503), internal (500)",
            ["kind"],
            registry=r,
        )
        self.feeds = Counter("relevance_feeds_scored", "Feeds scored", registry=r)
        self.items = Counter("relevance_items_scored", "Items scored", registry=r)
        self.cache_hits = Counter(
            "relevance_cache_hits",
            "Distinct texts found in the embedding cache (memory or disk)",
            registry=r,
        )
        self.cache_misses = Counter(
            "relevance_cache_misses", "Distinct texts sent to the encoder", registry=r
        )
        self.batches = Counter("relevance_batches", "Encoder batches run", registry=r)
        self.batch_feeds = Histogram(
            "relevance_batch_feeds", "Feeds per micro-batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_items = Histogram(
            "relevance_batch_items", "Items per micro-batch", buckets=BATCH_BUCKETS, registry=r
        )
        self.batch_seconds = Histogram(
            "relevance_batch_seconds",
            "Model time of one micro-batch (embedding and scoring)",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        self.queue_wait = Histogram(
            "relevance_queue_wait_seconds",
            "Time a validated request waited for its batch to start",
            buckets=LATENCY_BUCKETS,
            registry=r,
        )
        mode = {"multiprocess_mode": "livesum"}
        self.queue_items = Gauge(
            "relevance_queue_items", "Items waiting or being scored", registry=r, **mode
        )
        self.ready = Gauge(
            "relevance_ready", "1 when the model is loaded and warm", registry=r, **mode
        )

    def endpoint(self, path: str) -> str:
        return path if path in ENDPOINTS else "other"

    def render(self) -> bytes:
        """The Prometheus text exposition: this process, or all workers in multiprocess mode."""
        if multiprocess_dir() is None:
            return generate_latest(self.registry)
        from prometheus_client import multiprocess

        merged = CollectorRegistry()
        multiprocess.MultiProcessCollector(merged)
        return generate_latest(merged)
