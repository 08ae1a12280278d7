"""The CLI's rendering of progress events: one tqdm bar per task, on stderr."""

from __future__ import annotations

import sys
from typing import Any

from relevance.progress import ProgressEvent


class TqdmProgress:
    """A ``Progress`` callback drawing tqdm bars; ``disable=None`` draws on a terminal only."""

    def __init__(self, disable: bool | None = False, delay: float = 0.0) -> None:
        self.disable, self.delay = disable, delay
        self.bars: dict[str, Any] = {}

    def __call__(self, event: ProgressEvent) -> None:
        from tqdm import tqdm

        bar = self.bars.get(event.task)
        if bar is None:
            bar = self.bars[event.task] = tqdm(
                total=event.total,
                initial=event.done,
                unit=event.unit,
                desc=event.task,
                file=sys.stderr,
                disable=self.disable,
                dynamic_ncols=True,
                smoothing=0.1,
                delay=self.delay,
                leave=event.task != "embedding",
            )
        if event.total is not None and bar.total != event.total:
            bar.total = event.total
        if event.info:
            bar.set_postfix(event.info, refresh=False)
        bar.update(event.done - bar.n)
        if event.finished:
            bar.close()
            del self.bars[event.task]

    def close(self) -> None:
        for bar in self.bars.values():
            bar.close()
        self.bars.clear()


class LineProgress:
    """Progress for a stderr that is not a terminal (a log file, a pipe): whole lines, no ``\\r``.

    A line when a task finishes, and at most one every ``every`` seconds while it runs.
    """

    def __init__(self, every: float = 30.0) -> None:
        self.every = every
        self.last: dict[str, float] = {}

    def __call__(self, event: ProgressEvent) -> None:
        import time

        now = time.monotonic()
        first = self.last.setdefault(event.task, now)
        if not event.finished and now - self.last[event.task] < self.every:
            return
        if not event.finished and first == now:
            return  # the opening event says nothing yet
        self.last[event.task] = now
        total = f"/{event.total}" if event.total is not None else ""
        info = "".join(f", {v} {k}" for k, v in event.info.items())
        state = "done" if event.finished else "so far"
        print(f"{event.task}: {event.done}{total} {event.unit}s {state}{info}", file=sys.stderr)

    def close(self) -> None:
        self.last.clear()


def make_progress(delay: float = 0.0) -> TqdmProgress | LineProgress:
    """A tqdm bar on a terminal; plain lines when stderr is a file or a pipe."""
    isatty = getattr(sys.stderr, "isatty", None)
    return TqdmProgress(delay=delay) if isatty is not None and isatty() else LineProgress()
