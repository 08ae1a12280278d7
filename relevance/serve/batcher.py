"""Micro-batching: requests that arrive within a few milliseconds share one encoder call.

One scoring thread owns the model (the encoder, its in-memory LRU and the SQLite cache
are used from that thread only). Requests wait in a queue bounded in items; a full queue
refuses at once (the caller answers 503 with Retry-After) rather than letting latency grow
without bound. A batch starts ``wait`` seconds after its first request arrived or after the
previous batch ended, whichever is later (the clients just answered get that long to send
their next request), or as soon as it holds ``max_items``. While the thread is busy,
arriving requests pile up and the next batch takes them all, so under load the encoder
runs full batches. A lone client (no request on its way in, and no recent batch of several
requests) does not wait.
"""

from __future__ import annotations

import logging
import math
import threading
import time
from collections import deque
from collections.abc import Callable, Hashable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger("relevance.serve")


class Overloaded(RuntimeError):
    """The queue is full; ``retry_after`` is the seconds it needs to drain (at least 1)."""

    def __init__(self, pending: int, limit: int, retry_after: int):
        self.pending, self.limit, self.retry_after = pending, limit, retry_after
        super().__init__(
            f"the scoring queue is full ({pending} items waiting, limit {limit}); "
            f"retry in {retry_after} s"
        )


class Stopped(RuntimeError):
    """The batcher is shutting down and takes no new work."""


@dataclass
class Job:
    """One request's work: ``payload`` for the batch function, grouped by ``key``."""

    payload: Any
    items: int
    key: Hashable = None
    arrived: float = field(default_factory=time.monotonic)
    started: float | None = None
    future: Future = field(default_factory=Future)


class MicroBatcher:
    """Collects jobs with the same key into batches and runs ``run(jobs)`` on one thread.

    ``run`` must set each job's future (result or exception); an exception it raises
    itself fails every job of the batch, and the thread goes on with the next one.
    """

    def __init__(
        self,
        run: Callable[[list[Job]], None],
        wait: float = 0.02,
        max_items: int = 2048,
        max_pending: int = 8192,
        name: str = "relevance-scoring",
    ):
        if wait < 0 or max_items < 1 or max_pending < max_items:
            raise ValueError(f"wait {wait}, max_items {max_items}, max_pending {max_pending}")
        self._run, self.wait, self.max_items, self.max_pending = run, wait, max_items, max_pending
        self._jobs: deque[Job] = deque()
        self._cond = threading.Condition()
        self._pending = 0  # items queued or being scored
        self._stopping = False
        self._arriving = 0  # requests between their arrival and submit (reading, validating)
        self._recent: deque[int] = deque(maxlen=8)  # requests per recent batch
        self._last_end = 0.0  # when the previous batch's answers were set
        self._rate = 0.0  # items per second of recent batches, for Retry-After
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._before: list[Callable[[], None]] = []

    def start(self, before: Callable[[], None] | None = None) -> None:
        """Start the thread; ``before`` runs on it first (loading the model's weights)."""
        if before is not None:
            self._before.append(before)
        self._thread.start()

    @property
    def pending(self) -> int:
        return self._pending

    @contextmanager
    def arriving(self) -> Iterator[None]:
        """Around reading and validating a request: a batch about to start waits for it."""
        with self._cond:
            self._arriving += 1
        try:
            yield
        finally:
            with self._cond:
                self._arriving -= 1
                if not self._arriving:
                    self._cond.notify_all()

    def submit(self, job: Job) -> Future:
        """Queue a job; Overloaded when it does not fit (an empty queue takes any job)."""
        with self._cond:
            if self._stopping:
                raise Stopped("the service is shutting down")
            if self._pending and self._pending + job.items > self.max_pending:
                raise Overloaded(self._pending, self.max_pending, self._retry_after())
            self._pending += job.items
            self._jobs.append(job)
            self._cond.notify()
        return job.future

    def _retry_after(self) -> int:
        if self._rate <= 0:
            return 1
        return max(1, math.ceil(self._pending / self._rate))

    def stop(self, timeout: float | None = None) -> None:
        """Finish every queued job, then end the thread."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def _take(self) -> list[Job] | None:
        """The next batch: jobs of the first job's key, oldest first, up to ``max_items``."""
        with self._cond:
            while not self._jobs:
                if self._stopping:
                    return None
                self._cond.wait()
            first = self._jobs[0]
            deadline = max(first.arrived, self._last_end) + self.wait
            while True:
                batch, items, full = [], 0, False
                for job in self._jobs:
                    if job.key != first.key:
                        continue
                    if batch and items + job.items > self.max_items:
                        full = True  # the next one does not fit: no use waiting
                        break
                    batch.append(job)
                    items += job.items
                full = full or items >= self.max_items
                left = deadline - time.monotonic()
                alone = not self._arriving and max(self._recent, default=0) <= 1
                if full or left <= 0 or self._stopping or alone:
                    break
                self._cond.wait(left)
            self._recent.append(len(batch))
            taken = {id(j) for j in batch}
            self._jobs = deque(j for j in self._jobs if id(j) not in taken)
            return batch

    def _loop(self) -> None:
        for before in self._before:
            try:
                before()
            except Exception:  # the caller records its own failure; the thread serves anyway
                log.exception("preparing the scoring thread failed")
        while True:
            batch = self._take()
            if batch is None:
                return
            start = time.monotonic()
            for job in batch:
                job.started = start
            try:
                self._run(batch)
            except Exception as exc:  # the service must outlive one bad batch
                log.exception("scoring a batch of %d requests failed", len(batch))
                for job in batch:
                    if not job.future.done():
                        job.future.set_exception(exc)
            finally:
                items = sum(j.items for j in batch)
                seconds = max(time.monotonic() - start, 1e-6)
                rate = items / seconds
                self._rate = rate if self._rate <= 0 else 0.8 * self._rate + 0.2 * rate
                with self._cond:
                    self._pending -= items
                    self._last_end = time.monotonic()
