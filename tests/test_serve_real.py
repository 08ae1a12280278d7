"""``relevance serve`` with the shipped model and the real MiniLM, two worker processes.

No ``--model``: the service finds the default model as ``relevance score`` does.
"""

from __future__ import annotations

import json
import time

import pytest
from conftest import ROOT
from serve_support import Server
from test_serve import answer_rows, assert_same

from relevance.cli import main

pytestmark = pytest.mark.slow


def test_two_workers_answer_as_relevance_score_and_merge_their_metrics(tmp_path, monkeypatch):
    lines = (ROOT / "data" / "ecb_dev.jsonl").read_text(encoding="utf-8").splitlines()[:3]
    feeds = [json.loads(line) for line in lines]
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    args = ["score", str(src), "--out", str(out), "--no-progress"]
    assert main([*args, "--cache-dir", str(tmp_path / "cli-cache")]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    expected = {(r["feed_id"], r["item_id"]): r for r in rows}

    monkeypatch.delenv("RELEVANCE_MODEL", raising=False)  # the server inherits the environment
    srv = Server(["--workers", "2", "--cache-dir", str(tmp_path / "c")], real=True)
    try:
        srv.wait_ready(timeout=600)
        # the same three feeds in one request: the very table `relevance score` embedded
        res = srv.post({"feeds": feeds})
        assert res.status_code == 200, res.text
        assert_same(answer_rows(res.json()), expected)
        assert res.json()["model"]["id"].startswith("default@")
        for _ in range(5):  # answered by either worker; the cache makes these fast
            assert srv.post({"feeds": feeds}).status_code == 200
        ok = 'relevance_requests_total{endpoint="/v1/score",method="POST",status="200"}'
        deadline = time.monotonic() + 10  # the last count lands just after its answer
        while srv.metric(ok) < 6 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert srv.metric(ok) == 6  # summed over both workers
        assert "Started parent process" in srv.log
    finally:
        assert srv.stop(timeout=120) == 0, srv.log
