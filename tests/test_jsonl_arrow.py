"""JSONL blocks read by pyarrow give exactly what the line-by-line reader gives.

The pyarrow path (``relevance.io.jsonl_arrow``) only accepts blocks of good feeds and
hands every other block to the line reader. Random files of clean and broken lines, in
blocks of a few feeds (so clean and broken blocks mix), are read both ways, with and without
a resume, and must give the same rows, units, lines and rejects, and raise the same error
when rejects are not skipped.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import relevance.io.jsonl as jsonl
from relevance.io.errors import InputError
from relevance.io.reading import Reading
from relevance.io.rejects import Rejects
from relevance.io.streams import iter_blocks, sources


def _feed(rng: np.random.Generator, k: int) -> dict:
    items = []
    for j in range(int(rng.integers(1, 5))):
        item = {"id": f"i{j}", "title": f"Item {j} of feed {k} é", "summary": "Some words."}
        if rng.random() < 0.3:
            item["grade"] = int(rng.integers(0, 3))
        if rng.random() < 0.2:
            item["label"] = int(item.get("grade", 0) == 2)
        items.append(item)
    article = {"title": f"Article {k}", "body": "A body <b>with</b> markup &amp; text."}
    return {"feed_id": f"f{k}", "article": article, "items": items}


def _set(path: str, value: object):
    def edit(feed: dict) -> dict:
        *parents, last = path.split(".")
        node: object = feed
        for p in parents:
            node = node[int(p)] if isinstance(node, list) else node[p]  # type: ignore[index]
        if isinstance(node, list):
            node[int(last)] = value
        else:
            node[last] = value  # type: ignore[index]
        return feed

    return edit


#: Edits of a decoded feed: each makes it bad, partly bad or merely unusual.
EDITS = [
    _set("items.0.label", 1.0),
    _set("items.0.label", True),
    _set("items.0.label", 2),
    _set("items.0.label", -1),
    _set("items.0.label", 10**30),
    _set("items.0.grade", 3),
    lambda f: _set("items.0.label", 0)(_set("items.0.grade", 2)(f)),
    lambda f: _set("items.0.label", None)(_set("items.0.grade", 1)(f)),
    _set("items.0.title", None),
    _set("items.0.summary", None),
    lambda f: _set("items.0.title", "")(_set("items.0.summary", "")(f)),
    lambda f: _set("items.0.title", "<br>")(_set("items.0.summary", " ")(f)),
    _set("items.0.id", ""),
    _set("items.0.id", "  "),
    _set("items.0.id", None),
    _set("items.0.id", 7),
    lambda f: _set("items", [*f["items"], dict(f["items"][0])])(f),
    _set("feed_id", ""),
    _set("feed_id", " \u2003"),
    _set("feed_id", 12),
    _set("feed_id", "f0"),  # a feed id seen before (or the first feed itself)
    _set("article", "text"),
    _set("article", {"title": "", "body": "<p></p>"}),
    _set("article.body", None),
    _set("items", []),
    _set("items", {"a": 1}),
    _set("items", [None]),
    _set("items", ["an item"]),
    _set("extra", 1),
    _set("article.extra", [1, 2]),
    _set("items.0.extra", {"x": None}),
    _set("items.0.module", "related"),
    _set("items.0.href", "https://example.org/a"),
    _set("items.0.self_link", True),
    _set("items.0.self_link", 1),
    _set("items.0.module", 5),
    _set("items.0.title", "half of a pair \ud800"),
    _set("items.0.title", "emoji \U0001f600 and \u2028"),
    _set("deep", json.loads("[" * 70 + "]" * 70)),
]
#: Edits of the line's bytes.
RAW = [
    lambda b: b"not json",
    lambda b: b + b" " + b,  # two records on one line
    lambda b: b[:-5],
    lambda b: b"\xef\xbb\xbf" + b,
    lambda b: b + b"\r",
    lambda b: b.replace(b"Item", b"It\xffem", 1),
    lambda b: b"[1, 2]",
    lambda b: b"null",
    lambda b: b'{"feed_id": "x", "article": {"title": NaN}, "items": []}',
    lambda b: b.replace(b'"title"', b'"title": "twice", "title"', 1),
]


def _file(tmp_path: Path, seed: int, n: int = 40) -> Path:
    rng = np.random.default_rng(seed)
    lines = []
    for k in range(n):
        feed = _feed(rng, k)
        r = rng.random()
        if r < 0.35:
            feed = EDITS[int(rng.integers(len(EDITS)))](feed)
        ascii_only = bool(rng.random() < 0.5)
        raw = json.dumps(feed, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
        if 0.35 <= r < 0.5:
            raw = RAW[int(rng.integers(len(RAW)))](raw)
        lines.append(raw)
        if rng.random() < 0.05:
            lines.append(b"   ")
    path = tmp_path / f"feeds-{seed}.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path


def _read(path: Path, mode: str, skip: int, fast: bool, monkeypatch) -> tuple:
    if not fast:
        monkeypatch.setattr(jsonl, "read_block", lambda lines, clean: None)
    rejects = Rejects(mode)
    reading = Reading(rejects, skip=skip)
    try:
        frames = list(iter_blocks(sources([path]), reading, block_rows=20 * 3))
    except InputError as err:
        frames = [pd.DataFrame({"error": [str(err)]})]
    finally:
        monkeypatch.undo()
    frame = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return frame, rejects.kept, reading.units


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("mode, skip", [("skip", 0), ("skip", 7), ("error", 0)])
def test_the_pyarrow_path_reads_as_the_line_reader_does(tmp_path, monkeypatch, seed, mode, skip):
    path = _file(tmp_path, seed)
    fast_frame, fast_rejects, fast_units = _read(path, mode, skip, True, monkeypatch)
    slow_frame, slow_rejects, slow_units = _read(path, mode, skip, False, monkeypatch)
    pd.testing.assert_frame_equal(fast_frame, slow_frame)
    assert fast_rejects == slow_rejects
    assert fast_units == slow_units


def test_clean_blocks_do_take_the_pyarrow_path(tmp_path, monkeypatch):
    """Without this, the comparison above would pass with the fast path never taken."""
    rng = np.random.default_rng(0)
    path = tmp_path / "clean.jsonl"
    path.write_text("".join(json.dumps(_feed(rng, k)) + "\n" for k in range(9)), "utf-8")
    taken = []
    real = jsonl.read_block

    def spy(lines, clean):
        block = real(lines, clean)
        taken.append(block is not None)
        return block

    monkeypatch.setattr(jsonl, "read_block", spy)
    frames = list(iter_blocks(sources([path]), Reading(), block_rows=20 * 3))
    assert taken == [True, True, True]
    assert sum(len(f) for f in frames) > 9
