"""What a scoring run writes: the output formats, and the ranked list shown to people.

Light on purpose (no pandas import): the CLI reads ``OUTPUT_FORMATS`` for ``--help``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import pandas as pd

OUTPUT_FORMATS = ("table", "jsonl", "csv", "parquet")


class OutputError(RuntimeError):
    """An output that cannot be written as asked; the CLI exits 2 with the message."""


class ResumeError(OutputError):
    """A partial output that cannot be continued."""


def format_for(out: str | Path | None, fmt: str | None) -> str:
    """Explicit format wins; else the file suffix; else a table for a terminal."""
    if fmt:
        if fmt not in OUTPUT_FORMATS:
            raise ValueError(f"--format {fmt!r}, expected one of {OUTPUT_FORMATS}")
        return fmt
    if out is None:
        return "table"
    name = str(out).lower()
    for suffix, guess in ((".jsonl", "jsonl"), (".csv", "csv"), (".parquet", "parquet")):
        if name.endswith(suffix):
            return guess
    return "jsonl"


def render_table(scored: pd.DataFrame) -> str:
    """Each feed's items by rank, with probability and a keep/drop mark."""
    lines: list[str] = []
    for feed_id, group in scored.groupby("feed_id", sort=False):
        kept = int(group["relevant"].sum())
        lines.append(f"feed {feed_id}: {kept} of {len(group)} items kept")
        lines.append(f"  {'rank':>4}  {'prob':>6}  {'':4}  title")
        for row in group.sort_values("rank").itertuples(index=False):
            mark = "keep" if row.relevant else "drop"
            title = row.title if len(row.title) <= 90 else row.title[:87] + "..."
            lines.append(f"  {row.rank:>4}  {row.probability:6.3f}  {mark}  {title}")
        lines.append("")
    return "\n".join(lines)
