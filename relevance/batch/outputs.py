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


#: Output suffixes and the format each means; ``.gz`` may follow jsonl and csv.
SUFFIXES = {".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".parquet": "parquet",
            ".txt": "table"}  # fmt: skip


def format_for(out: str | Path | None, fmt: str | None) -> str:
    """Explicit format wins; else the file suffix; else a table for a terminal.

    An output file whose suffix says no format (``x.out``, ``x.json``) is an error, not
    silently JSONL: ``--format`` says what to write there.
    """
    if fmt:
        if fmt not in OUTPUT_FORMATS:
            raise OutputError(f"--format {fmt!r}: expected one of {', '.join(OUTPUT_FORMATS)}")
        return fmt
    if out is None:
        return "table"
    name = str(out).lower().removesuffix(".gz")
    for suffix, guess in SUFFIXES.items():
        if name.endswith(suffix):
            if guess in ("parquet", "table") and str(out).lower().endswith(".gz"):
                break
            return guess
    known = ", ".join([*SUFFIXES, ".jsonl.gz", ".csv.gz"])
    raise OutputError(
        f"--output {out}: unknown output suffix; use one of {known}, or give --format"
    )


#: The terminal table's columns: (header, width, how a value is shown).
_TABLE = (
    ("rank", 4, lambda r: f"{r.rank}"),
    ("probability", 11, lambda r: f"{r.probability:.3f}"),
    ("p_story", 7, lambda r: f"{r.p_story:.3f}"),
    ("p_topic", 7, lambda r: "-" if r.p_topic != r.p_topic else f"{r.p_topic:.3f}"),
    ("relevant", 8, lambda r: "keep" if r.relevant else "drop"),
)
TITLE_WIDTH = 90


def render_table(scored: pd.DataFrame, caption: str | None = None) -> str:
    """Each feed's items by rank, every column named, with what decided keep or drop.

    ``caption`` (model, level, threshold) heads the table; with ``passage``/``shared``
    columns (``--explain``) each item gets a second line saying why.
    """
    lines: list[str] = [caption, ""] if caption else []
    header = "  ".join(f"{name:>{width}}" for name, width, _ in _TABLE) + "  title"
    explained = "passage" in scored.columns
    for feed_id, group in scored.groupby("feed_id", sort=False):
        kept = int(group["relevant"].sum())
        lines.append(f"feed {feed_id}: {kept} of {len(group)} items kept")
        lines.append("  " + header)
        for row in group.sort_values("rank").itertuples(index=False):
            cells = "  ".join(f"{show(row):>{width}}" for _, width, show in _TABLE)
            title = row.title if len(row.title) <= TITLE_WIDTH else row.title[:87] + "..."
            lines.append(f"  {cells}  {title}")
            if explained:
                passage = row.passage if len(row.passage) <= 150 else row.passage[:147] + "..."
                lines.append(f"{'':8}shared: {row.shared or '-'}; passage: {passage}")
        lines.append("")
    return "\n".join(lines) + ("\n" if lines else "")
