"""Write scored tables: a readable ranked list for people, files for machines."""

from __future__ import annotations

import json
import os
import sys
import tempfile
from pathlib import Path
from typing import TextIO

import pandas as pd

OUTPUT_FORMATS = ("table", "jsonl", "csv", "parquet")


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


def _records(scored: pd.DataFrame) -> list[dict]:
    records = scored.to_dict(orient="records")
    for rec in records:
        rec["relevant"] = bool(rec["relevant"])
        rec["rank"] = int(rec["rank"])
        rec["probability"] = float(rec["probability"])
        if "label" in rec and rec["label"] is not None and not pd.isna(rec["label"]):
            rec["label"] = int(rec["label"])
    return records


def write_jsonl(scored: pd.DataFrame, fh: TextIO) -> None:
    for rec in _records(scored):
        fh.write(json.dumps(rec, ensure_ascii=False) + "\n")


def write_scores(scored: pd.DataFrame, out: str | Path | None, fmt: str) -> None:
    """Write to ``out`` atomically (temp file then rename), or to stdout when ``out`` is None."""
    if out is None:
        if fmt == "table":
            sys.stdout.write(render_table(scored))
        elif fmt == "jsonl":
            write_jsonl(scored, sys.stdout)
        elif fmt == "csv":
            scored.to_csv(sys.stdout, index=False)
        else:
            raise ValueError("--format parquet needs --out FILE")
        return
    out = Path(out)
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", suffix=".tmp", dir=out.parent or ".")
    os.close(fd)
    try:
        if fmt == "parquet":
            scored.to_parquet(tmp, index=False)
        elif fmt == "csv":
            scored.to_csv(tmp, index=False)
        else:
            with open(tmp, "w", encoding="utf-8") as fh:
                if fmt == "table":
                    fh.write(render_table(scored))
                else:
                    write_jsonl(scored, fh)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
