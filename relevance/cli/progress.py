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
