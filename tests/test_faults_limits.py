"""Readers are bounded (issue 15, failure 3): nesting depth, line length and field size
have limits (``relevance.io.limits``, docs/bad-input.md); past one, the record is one bad
record: exit 2 naming it by default, set aside with its line under ``--on-error skip``,
for every format, in ``score`` and in ``evaluate`` (which reads through the same readers).
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import fake_cli
import pandas as pd
import pytest
from bad_inputs import (
    Built,
    Case,
    csv_text,
    feed_case,
    feeds,
    jsonl,
    line_case,
    rows_case,
    set_field,
    without_items,
)
from batch_support import load_fake, save_fake_model

from relevance.batch import score_files
from relevance.batch.rejects import rejects_path
from relevance.batch.sinks import partial_path, read_scores
from relevance.io.limits import MAX_DEPTH, MAX_FIELD_CHARS, MAX_RECORD_BYTES
from relevance.io.reader import read_inputs
from relevance.io.rejects import Rejects

COMPARED = ["feed_id", "item_id", "probability", "relevant", "rank"]
BIG = "word " * (MAX_FIELD_CHARS // 5 + 1)  # one character past the field size limit


def _nested(depth: int) -> str:
    return (
        '{"feed_id": "deep", "article": {"title": "t"}, "items": ' + "[" * depth + "]" * depth + "}"
    )


def _big_cell(row: int, col: str):
    def change(frame: pd.DataFrame) -> pd.DataFrame:
        frame.loc[row, col] = BIG
        return frame

    return change


def _long_csv_record(multiline: bool):
    """Line 8 (feed 1's third item) made one record over the record size limit.

    One physical line of many short fields (no field is over the field limit), or a
    quoted field over many short lines: neither is ever held whole, and the records after
    it are read as usual, at their own line numbers.
    """

    def build(tmp: Path) -> Built:
        def edit(lines: list[str]) -> list[str]:
            if multiline:
                block = ("y" * 1023 + "\n") * (MAX_RECORD_BYTES // 1024 + 1)
                lines[7] += ',"' + block + '"'
            else:
                lines[7] += ",x" * (MAX_RECORD_BYTES // 2 + 1)
            return lines

        path = csv_text(tmp, edit)
        f = feeds()
        good = [f[0], without_items(f[1], 2), f[2]]
        return Built([path], good, [("item", "in.csv", 8, "<row>")], "record size limit")

    return build


CASES = [
    Case("long-line-csv", "", _long_csv_record(multiline=False)),
    Case("long-quoted-record-csv", "", _long_csv_record(multiline=True)),
    # 100,000 levels: json's C decoder itself would raise RecursionError
    Case("deep-json", "", line_case(_nested(100_000), "<json>", f"nested at most {MAX_DEPTH}")),
    # just past the limit, well within Python's recursion limit: still refused
    Case("deep-json-65", "", line_case(_nested(MAX_DEPTH), "<json>", "nested at most")),
    Case(
        "long-line",
        "",
        line_case("x" * (MAX_RECORD_BYTES + 10), "<line>", f"at most {MAX_RECORD_BYTES} bytes"),
    ),
    Case(
        "big-article-jsonl",
        "",
        feed_case(set_field("article.body", BIG), "feed", "article.body", "field size limit"),
    ),
    Case(
        "big-item-jsonl",
        "",
        feed_case(
            set_field("items.1.title", BIG), "item", "items.1.title", "field size limit", (1,)
        ),
    ),
    Case(
        "big-cell-csv",
        "",
        rows_case(
            ".csv", _big_cell(5, "item_title"), "item", [5], "item_title", "field size", (1,)
        ),
    ),
    Case(
        "big-cell-parquet",
        "",
        rows_case(
            ".parquet",
            _big_cell(5, "item_summary"),
            "item",
            [5],
            "item_summary",
            "field size",
            (1,),
        ),
    ),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory, fitted_fake_model):
    return save_fake_model(fitted_fake_model[0], tmp_path_factory.mktemp("limits") / "model")


def _rows(path: Path) -> pd.DataFrame:
    frame = read_scores(path).astype({"feed_id": str, "item_id": str})[COMPARED]
    return frame.sort_values(["feed_id", "item_id"]).reset_index(drop=True)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_past_a_limit_is_one_bad_record(case: Case, folder, tmp_path, capsys):
    built = case.build(tmp_path)
    out = tmp_path / "out.jsonl"
    args = ["score", *map(str, built.paths), "--model", str(folder), "--out", str(out)]
    args += ["--no-cache", "--no-progress", "--feeds-per-chunk", "1"]
    assert fake_cli.main(args) == 2
    err = capsys.readouterr().err
    assert err.startswith("relevance score: error: ") and "Traceback" not in err
    assert re.search(built.error, err), err[:300]
    level, name, place, field = built.rejects[0]
    assert (f"{name}:{place}" in err or f"{name}:row {place}" in err) and field in err
    assert len(err) < 2000  # the huge value is not echoed whole
    assert not out.exists() and not partial_path(out).exists()

    assert fake_cli.main([*args, "--on-error", "skip"]) == 0
    capsys.readouterr()
    rejects = [json.loads(x) for x in rejects_path(out).read_text().splitlines()]
    got = [(r["level"], Path(r["file"]).name, r["line"] or r["row"], r["field"]) for r in rejects]
    assert got == built.rejects
    model, _ = load_fake(folder, use_cache=False)
    alone = tmp_path / "alone.jsonl"
    score_files(model, [jsonl(tmp_path / "clean.jsonl", built.good)], alone, progress=None)
    pd.testing.assert_frame_equal(_rows(out), _rows(alone), check_dtype=False)


@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_evaluate_reads_through_the_same_bounds(case: Case, tmp_path):
    """``relevance evaluate --on-error skip`` reads with ``read_inputs`` and a skip policy."""
    built = case.build(tmp_path)
    rejects = Rejects("skip")
    frame = read_inputs(built.paths, rejects=rejects)
    assert [(r["level"], r["field"]) for r in rejects.kept] == [(w[0], w[3]) for w in built.rejects]
    want = {(f["feed_id"], it["id"]) for f in built.good for it in f["items"]}
    assert set(zip(frame["feed_id"], frame["item_id"], strict=True)) == want
    with pytest.raises(Exception, match=built.error):
        read_inputs(built.paths, rejects=Rejects("error"))


def test_a_long_line_does_not_stop_the_next_one_being_read(tmp_path):
    from relevance.io.limits import bounded_lines

    path = tmp_path / "x"
    path.write_bytes(b"a\n" + b"y" * 5000 + b"\nb\n" + b"z" * 10)
    with open(path, "rb") as fh:
        got = list(bounded_lines(fh, limit=100))
    assert got == [(b"a\n", False), (b"y" * 101, True), (b"b\n", False), (b"z" * 10, False)]
    with open(path, "rb") as fh:
        exact = list(bounded_lines(fh, limit=2))  # "a\n" is 2 bytes: at the limit, not past
    assert exact[0] == (b"a\n", False)


def test_feeds_of_many_items_are_not_mistaken_for_deep_nesting(folder, tmp_path):
    feed = feeds(1)[0]
    feed["items"] = [dict(feed["items"][0], id=f"i{i}") for i in range(MAX_DEPTH * 3)]
    path = jsonl(tmp_path / "wide.jsonl", [feed])
    assert len(read_inputs([path])) == MAX_DEPTH * 3
