"""Golden scoring outputs: fixed inputs scored once, compared after a refactor.

    python tests/golden.py write DIR [--feeds N]   # inputs + outputs of the current code
    python tests/golden.py check DIR               # rescore DIR's inputs, compare

The inputs are the seed page and the first ``--feeds`` dev feeds as JSONL, CSV and
Parquet (long format, built here with plain json/pandas so the script does not depend
on the package's own readers). Each is scored with ``models/default`` and
``models/frozen`` (torch backend, no cache) through the real CLI, into JSONL, CSV and
Parquet. ``check`` demands identical rows, ids, titles, keep/drop, ranks and labels, and
probabilities within ``TOLERANCE``. ``tests/test_golden.py`` runs ``check`` on the small
set kept in ``tests/golden/``; a change of the shipped models means rewriting it.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import sys
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"default": ROOT / "models" / "default", "frozen": ROOT / "models" / "frozen"}
#: Outputs are written to 6 decimals, so float noise of 1e-7 can flip one rounding step.
TOLERANCE = 1e-6 * (1 + 1e-6)
PROBABILITIES = ("probability", "p_story", "p_topic")
INPUTS = ("page.txt", "feeds.jsonl", "feeds.csv", "feeds.parquet")
#: (input, output suffix) pairs scored; every output format once, every input format once.
RUNS = (
    ("page.txt", "jsonl"),
    ("page.txt", "table"),
    ("feeds.jsonl", "jsonl"),
    ("feeds.jsonl", "csv"),
    ("feeds.jsonl", "parquet"),
    ("feeds.csv", "jsonl"),
    ("feeds.parquet", "jsonl"),
)


def make_inputs(folder: Path, n_feeds: int) -> None:
    """The seed page, and the first ``n_feeds`` dev feeds in the three feed formats."""
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(ROOT / "data" / "seed" / "page.txt", folder / "page.txt")
    lines = (ROOT / "data" / "dev.jsonl").read_text(encoding="utf-8").splitlines()[:n_feeds]
    (folder / "feeds.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    rows = []
    for line in lines:
        feed = json.loads(line)
        for item in feed["items"]:
            rows.append(
                {
                    "feed_id": feed["feed_id"],
                    "article_title": feed["article"]["title"],
                    "article_body": feed["article"]["body"],
                    "item_id": item["id"],
                    "item_title": item["title"],
                    "item_summary": item["summary"],
                    "label": item["label"],
                }
            )
    frame = pd.DataFrame(rows)
    frame.to_csv(folder / "feeds.csv", index=False)
    frame.to_parquet(folder / "feeds.parquet", index=False)


def score_all(inputs: Path, out: Path) -> None:
    """Every (model, input, format) of ``RUNS`` through ``relevance score``."""
    from relevance.cli import main

    out.mkdir(parents=True, exist_ok=True)
    for name, model in MODELS.items():
        for source, fmt in RUNS:
            stem = f"{name}-{source.replace('.', '_')}"
            args = ["score", str(inputs / source), "--model", str(model), "--backend", "torch"]
            args += ["--no-cache", "--no-progress"]
            if fmt == "table":
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    code = main(args)
                (out / f"{stem}.table.txt").write_text(buf.getvalue(), encoding="utf-8")
            else:
                code = main([*args, "--out", str(out / f"{stem}.{fmt}")])
            if code != 0:
                raise SystemExit(f"relevance score {source} ({name}) exited {code}")


def _read(path: Path) -> pd.DataFrame:
    if path.suffix == ".parquet":
        return pd.read_parquet(path)
    if path.suffix == ".csv":
        return pd.read_csv(path, dtype={"feed_id": str, "item_id": str, "title": str})
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    return pd.DataFrame(rows)


def compare(expected: Path, actual: Path) -> float:
    """Raise AssertionError on any difference but float noise; the largest |dp| seen."""
    worst = 0.0
    for want in sorted(expected.iterdir()):
        got = actual / want.name
        if not got.is_file():
            raise AssertionError(f"{got}: missing")
        if want.name.endswith(".table.txt"):
            if want.read_text(encoding="utf-8") != got.read_text(encoding="utf-8"):
                raise AssertionError(f"{got}: differs from {want}")
            continue
        a, b = _read(want), _read(got)
        if list(a.columns) != list(b.columns) or len(a) != len(b):
            raise AssertionError(
                f"{got}: columns {list(b.columns)} x {len(b)} rows, "
                f"expected {list(a.columns)} x {len(a)}"
            )
        if want.suffix == ".parquet":
            import pyarrow.parquet as pq

            sa, sb = pq.read_schema(want), pq.read_schema(got)
            if sa.remove_metadata() != sb.remove_metadata():
                raise AssertionError(f"{got}: schema {sb} differs from {sa}")
        for col in a.columns:
            if col in PROBABILITIES:
                diff = (a[col] - b[col]).abs().max()
                worst = max(worst, float(diff))
                if diff > TOLERANCE:
                    raise AssertionError(f"{got}: {col} differs by {diff}")
            elif not a[col].equals(b[col]):
                bad = int((a[col] != b[col]).to_numpy().nonzero()[0][0])
                raise AssertionError(
                    f"{got}: column {col} row {bad}: {b[col].iat[bad]!r}, "
                    f"expected {a[col].iat[bad]!r}"
                )
        if want.suffix == ".jsonl":  # key order and which keys a row has are part of JSONL
            keys_a = [list(json.loads(x)) for x in want.read_text(encoding="utf-8").splitlines()]
            keys_b = [list(json.loads(x)) for x in got.read_text(encoding="utf-8").splitlines()]
            if keys_a != keys_b:
                raise AssertionError(f"{got}: keys differ from {want}")
    return worst


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("action", choices=["write", "check"])
    parser.add_argument("folder", type=Path)
    parser.add_argument("--feeds", type=int, default=8, help="dev feeds in the inputs (write)")
    args = parser.parse_args(argv)
    inputs, expected = args.folder / "inputs", args.folder / "expected"
    if args.action == "write":
        make_inputs(inputs, args.feeds)
        score_all(inputs, expected)
        print(f"wrote {expected}")
        return 0
    actual = args.folder / "actual"
    shutil.rmtree(actual, ignore_errors=True)
    score_all(inputs, actual)
    worst = compare(expected, actual)
    print(f"{len(list(expected.iterdir()))} outputs identical; max |probability diff| {worst:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
