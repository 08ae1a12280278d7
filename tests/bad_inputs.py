"""Bad-input cases, one per row of README's table: each builds its files and says what
must happen (the error by default; with ``--on-error skip``, the rejects and the feeds
still scored).

A case starts from good feeds and breaks one record; ``good`` is what a clean input
holding only the good records is, so a test can check that every good record was
scored exactly as it would have been alone.
"""

from __future__ import annotations

import copy
import gzip
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from fakes import make_feeds
from training_helpers import long_rows


@dataclass
class Built:
    paths: list[Path]
    good: list[dict]  # the feeds (and items) that must be scored
    rejects: list[tuple[str, str, int | None, str]]  # (level, file name, line/row, field)
    error: str  # regex the default error message must match


@dataclass
class Case:
    id: str
    row: str  # the README table row it checks
    build: Callable[[Path], Built]


def feeds(n: int = 3) -> list[dict]:
    return make_feeds(n, 4, seed=11)


def jsonl(path: Path, lines: list[object]) -> Path:
    """Feeds (dicts) and raw lines (str or bytes) as a JSONL file."""
    raw = [
        x if isinstance(x, bytes) else (x if isinstance(x, str) else json.dumps(x)).encode()
        for x in lines
    ]
    path.write_bytes(b"".join(line + b"\n" for line in raw))
    return path


def table(path: Path, rows: pd.DataFrame) -> Path:
    if path.suffix == ".csv":
        rows.to_csv(path, index=False)
    else:
        rows.to_parquet(path, index=False)
    return path


def without_items(feed: dict, *positions: int) -> dict:
    out = copy.deepcopy(feed)
    out["items"] = [it for i, it in enumerate(feed["items"]) if i not in positions]
    return out


# -- JSONL -------------------------------------------------------------------------------


def line_case(bad: object, field_: str, error: str) -> Callable[[Path], Built]:
    def build(tmp: Path) -> Built:
        f = feeds()
        path = jsonl(tmp / "in.jsonl", [f[0], bad, f[1], f[2]])
        return Built([path], f, [("feed", "in.jsonl", 2, field_)], error)

    return build


def feed_case(
    change: Callable[[dict], None], level: str, field_: str, error: str, drop: tuple = ()
) -> Callable[[Path], Built]:
    """Break feed 1 (line 2); an item problem keeps the feed less the item(s) in ``drop``."""

    def build(tmp: Path) -> Built:
        f = feeds()
        bad = copy.deepcopy(f[1])
        change(bad)
        path = jsonl(tmp / "in.jsonl", [f[0], bad, f[2]])
        good = [f[0], without_items(f[1], *drop), f[2]] if level == "item" else [f[0], f[2]]
        return Built([path], good, [(level, "in.jsonl", 2, field_)], error)

    return build


def set_field(path: str, value: object) -> Callable[[dict], None]:
    def change(feed: dict) -> None:
        *parents, last = path.split(".")
        node: object = feed
        for part in parents:
            node = node[int(part)] if isinstance(node, list) else node[part]  # type: ignore[index]
        if value is DELETE:
            del node[last]  # type: ignore[union-attr]
        elif isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value  # type: ignore[index]

    return change


DELETE = object()


def duplicate_feed(tmp: Path) -> Built:
    f = feeds()
    again = copy.deepcopy(f[0])
    again["article"]["body"] += " Another article."
    path = jsonl(tmp / "in.jsonl", [f[0], f[1], again, f[2]])
    return Built([path], [f[0], f[1], f[2]], [("feed", "in.jsonl", 3, "feed_id")], "each feed")


def duplicate_feed_across_files(tmp: Path) -> Built:
    f = feeds()
    a = jsonl(tmp / "a.jsonl", [f[0], f[1]])
    b = table(tmp / "b.csv", long_rows([f[2], f[0]]))  # f[0] again, in another file
    return Built([a, b], f, [("feed", "b.csv", n, "feed_id") for n in (6, 7, 8, 9)], "each feed")


def empty_file(tmp: Path) -> Built:
    f = feeds()
    empty = tmp / "empty.jsonl"
    empty.write_bytes(b"")
    good = jsonl(tmp / "in.jsonl", f)
    return Built([empty, good], f, [("file", "empty.jsonl", 1, "<file>")], "the file is empty")


def blank_lines(tmp: Path) -> Built:
    f = feeds()
    blank = tmp / "blank.jsonl"
    blank.write_text("\n  \n\n")
    good = jsonl(tmp / "in.jsonl", f)
    return Built([good, blank], f, [("file", "blank.jsonl", 1, "<file>")], "has no lines")


# -- CSV and Parquet ----------------------------------------------------------------------


def rows_case(
    suffix: str,
    change: Callable[[pd.DataFrame], pd.DataFrame],
    level: str,
    rows: list[int],
    field_: str,
    error: str,
    drop: tuple = (),
) -> Callable[[Path], Built]:
    """Break rows of feed 1 (rows 4-7 of 12; CSV lines 6-9); ``drop``: its items left out."""

    def build(tmp: Path) -> Built:
        f = feeds()
        frame = change(long_rows(f).astype({"label": object}))
        path = table(tmp / f"in{suffix}", frame)
        good = [f[0], without_items(f[1], *drop), f[2]] if level == "item" else [f[0], f[2]]
        where = [r + 2 if suffix == ".csv" else r + 1 for r in rows]  # 0-based row -> place
        return Built([path], good, [(level, path.name, w, field_) for w in where], error)

    return build


def cell(row: int, col: str, value: object) -> Callable[[pd.DataFrame], pd.DataFrame]:
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame = frame.astype({col: object})
        frame.at[row, col] = value
        return frame

    return change


def csv_text(tmp: Path, edit: Callable[[list[str]], list[str]]) -> Path:
    path = table(tmp / "in.csv", long_rows(feeds()))
    lines = path.read_text().splitlines()
    path.write_text("\n".join(edit(lines)) + "\n")
    return path


def csv_extra_field(tmp: Path) -> Built:
    path = csv_text(tmp, lambda ls: [*ls[:6], ls[6] + ",surplus", *ls[7:]])  # line 7
    f = feeds()
    good = [f[0], without_items(f[1], 1), f[2]]
    return Built([path], good, [("item", "in.csv", 7, "<row>")], r"in\.csv:7: field '<row>'")


def csv_bad_quote(tmp: Path) -> Built:
    def edit(lines: list[str]) -> list[str]:
        cells = lines[7].split(",")  # line 8; the fake texts hold no commas
        cells[3] = '"x"y'  # item_id: text after a closing quote
        lines[7] = ",".join(cells)
        return lines

    path = csv_text(tmp, edit)
    f = feeds()
    good = [f[0], without_items(f[1], 2), f[2]]
    return Built([path], good, [("item", "in.csv", 8, "<row>")], "a CSV record")


def csv_unclosed_quote(tmp: Path) -> Built:
    def edit(lines: list[str]) -> list[str]:
        cells = lines[12].split(",")  # line 13, the last record
        cells[4] = '"' + cells[4]  # a quote that is never closed
        lines[12] = ",".join(cells)
        return lines

    path = csv_text(tmp, edit)
    f = feeds()
    good = [f[0], f[1], without_items(f[2], 3)]
    return Built([path], good, [("item", "in.csv", 13, "<row>")], "never closed")


def csv_not_utf8(tmp: Path) -> Built:
    path = table(tmp / "in.csv", long_rows(feeds()))
    data = path.read_bytes().split(b"\n")
    cells = data[6].split(b",")  # line 7; the fake texts hold no commas
    cells[4] = b"caf\xe9 " + cells[4]  # a Latin-1 byte in item_title
    data[6] = b",".join(cells)
    path.write_bytes(b"\n".join(data))
    f = feeds()
    good = [f[0], without_items(f[1], 1), f[2]]
    return Built([path], good, [("item", "in.csv", 7, "item_title")], "UTF-8 text")


def missing_column(suffix: str) -> Callable[[Path], Built]:
    def build(tmp: Path) -> Built:
        f = feeds()
        bad = table(tmp / f"bad{suffix}", long_rows(f[:1]).drop(columns=["item_summary"]))
        good = table(tmp / f"good{suffix}", long_rows(f[1:]))
        return Built([bad, good], f[1:], [("file", bad.name, None, "item_summary")], "columns")

    return build


def wrong_parquet_type(tmp: Path) -> Built:
    f = feeds()
    frame = long_rows(f[:1])
    frame["item_title"] = range(len(frame))  # int64: not text
    bad = table(tmp / "bad.parquet", frame)
    good = table(tmp / "good.parquet", long_rows(f[1:]))
    return Built(
        [bad, good], f[1:], [("file", "bad.parquet", None, "item_title")], "a string column"
    )


def parquet_not_utf8(tmp: Path) -> Built:
    f = feeds()
    frame = long_rows(f)
    frame["item_title"] = [t.encode() for t in frame["item_title"]]  # a binary column
    frame.at[5, "item_title"] = b"caf\xe9"
    path = table(tmp / "in.parquet", frame)
    good = [f[0], without_items(f[1], 1), f[2]]
    return Built([path], good, [("item", "in.parquet", 6, "item_title")], "UTF-8 text")


def empty_table(suffix: str, header_only: bool) -> Callable[[Path], Built]:
    def build(tmp: Path) -> Built:
        f = feeds()
        empty = tmp / f"empty{suffix}"
        if header_only:
            table(empty, long_rows(f).iloc[:0])
        else:
            empty.write_bytes(b"")
        good = table(tmp / f"good{suffix}", long_rows(f))
        return Built([empty, good], f, [("file", empty.name, None, "<file>")], "at least one feed")

    return build


def not_contiguous(suffix: str) -> Callable[[Path], Built]:
    def build(tmp: Path) -> Built:
        f = feeds()
        rows = long_rows(f)
        order = [0, 1, *range(4, 12), 2, 3]  # feed 0's last two rows come back at the end
        path = table(tmp / f"in{suffix}", rows.iloc[order].reset_index(drop=True))
        good = [without_items(f[0], 2, 3), f[1], f[2]]
        where = [12, 13] if suffix == ".csv" else [11, 12]
        return Built([path], good, [("feed", path.name, w, "feed_id") for w in where], "each feed")

    return build


def not_gzip(tmp: Path) -> Built:
    f = feeds()
    bad = tmp / "plain.jsonl.gz"
    bad.write_text(json.dumps(f[0]) + "\n")  # named .gz, but not compressed
    good = jsonl(tmp / "in.jsonl", f[1:])
    return Built([bad, good], f[1:], [("file", bad.name, 1, "<file>")], "a gzip file")


def truncated_gzip(tmp: Path) -> Built:
    data = gzip.compress(("".join(json.dumps(x) + "\n" for x in feeds())).encode())
    path = tmp / "cut.jsonl.gz"
    path.write_bytes(data[: len(data) // 2])
    return Built([path], [], [], "can be read to its end")


# -- pages -------------------------------------------------------------------------------

PAGE = "date 2022-01-21 Flood &amp; storm\nRiver flood rain water levee.\nRecommended Stories\n"


def page_feed(name: str, items: list[tuple[str, str, str]]) -> dict:
    """The feed a clean page parses to: item ids are positions on the page."""
    article = {"title": "Flood & storm", "body": "River flood rain water levee."}
    kept = [{"id": i, "title": t, "summary": b} for i, t, b in items]
    return {"feed_id": name, "article": article, "items": kept}


ITEMS = [("1", "River flood warning", "Rain and water rise."), ("2", "Stocks fall", "")]


def page(text: bytes, level: str, line: int | None, field_: str, error: str, good=None):
    def build(tmp: Path) -> Built:
        bad = tmp / "bad.txt"
        bad.write_bytes(text)
        clean = tmp / "clean.txt"
        clean.write_text(PAGE + "".join(f"• {t}\n  {b}\n" for _, t, b in ITEMS))
        feeds_ = [page_feed("clean", ITEMS)] + (good or [])
        return Built([clean, bad], feeds_, [(level, "bad.txt", line, field_)], error)

    return build
