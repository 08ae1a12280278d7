"""Progress of a long run, reported through a callback: the library draws nothing itself.

A run calls ``progress(ProgressEvent(...))`` as work gets done; the CLI renders the events
as tqdm bars on stderr (``relevance.cli.progress``), other callers do what they like.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class ProgressEvent:
    """``done`` of ``total`` units of ``task`` (``total`` None while unknown)."""

    task: str  # "scoring", "evaluate", "embedding"
    done: int
    total: int | None = None
    unit: str = "item"
    info: dict[str, str] = field(default_factory=dict)  # e.g. items/s, cache hit rate, step
    finished: bool = False


Progress = Callable[[ProgressEvent], None]


def report(progress: Progress | None, event: ProgressEvent) -> None:
    """Send ``event`` when a callback was given."""
    if progress is not None:
        progress(event)
