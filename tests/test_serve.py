"""``relevance serve`` end to end: a real server process on a loopback port, a real HTTP client.

The fake encoder stands in for MiniLM (tests/fake_cli.py), so the answers can be compared
with ``relevance score`` run on the very same feeds, row for row.
"""

from __future__ import annotations

import json
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import fake_cli
import httpx
import pytest
from batch_support import save_fake_model
from fakes import make_feeds
from serve_support import Server

TOL = 1e-6
FLOATS = ("probability", "p_story", "p_topic")


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory, fitted_graded_model):
    return save_fake_model(fitted_graded_model[0], tmp_path_factory.mktemp("serve") / "model")


@pytest.fixture(scope="module")
def server(model_dir, tmp_path_factory):
    cache = tmp_path_factory.mktemp("serve-cache")
    args = ["--model", str(model_dir), "--cache-dir", str(cache), "--max-body-mb", "1"]
    srv = Server([*args, "--max-items-per-feed", "40", "--max-feeds-per-request", "30"])
    srv.wait_ready()
    yield srv
    assert srv.stop() == 0, srv.log


def cli_rows(tmp_path, model_dir, feeds: list[dict], *extra: str) -> dict:
    """``relevance score`` (fake encoder) on ``feeds``: JSONL rows by (feed_id, item_id)."""
    src, out = tmp_path / "in.jsonl", tmp_path / "out.jsonl"
    src.write_text("".join(json.dumps(f) + "\n" for f in feeds), encoding="utf-8")
    args = ["score", str(src), "--model", str(model_dir), "--out", str(out), "--no-progress"]
    assert fake_cli.main([*args, "--cache-dir", str(tmp_path / "cli-cache"), *extra]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    return {(r["feed_id"], r["item_id"]): r for r in rows}


def answer_rows(answer: dict) -> dict:
    return {
        (feed["feed_id"], item["item_id"]): {"feed_id": feed["feed_id"], **item}
        for feed in answer["feeds"]
        for item in feed["items"]
    }


def assert_same(served: dict, scored: dict) -> None:
    assert served.keys() == scored.keys()
    for key, row in scored.items():
        got = served[key]
        assert set(got) == set(row), key
        for name, value in row.items():
            if name in FLOATS and value is not None:
                assert abs(got[name] - value) <= TOL, (key, name)
            else:
                assert got[name] == value, (key, name)


def test_answer_equals_relevance_score(server, model_dir, tmp_path):
    feeds = make_feeds(5, 7, seed=3, graded=True)
    expected = cli_rows(tmp_path, model_dir, feeds)
    one_by_one = {}
    for feed in feeds:
        res = server.post(feed)
        assert res.status_code == 200, res.text
        one_by_one |= answer_rows(res.json())
    assert_same(one_by_one, expected)
    together = server.post({"feeds": feeds})
    assert together.status_code == 200
    assert_same(answer_rows(together.json()), expected)
    # items come back in the request's order, feeds too
    assert [f["feed_id"] for f in together.json()["feeds"]] == [f["feed_id"] for f in feeds]
    assert [i["item_id"] for i in together.json()["feeds"][0]["items"]] == [
        i["id"] for i in feeds[0]["items"]
    ]


def test_query_options_mirror_the_cli(server, model_dir, tmp_path):
    feeds = make_feeds(3, 8, seed=4)
    expected = cli_rows(tmp_path, model_dir, feeds, "--level", "story", "--top-k", "2")
    res = server.post({"feeds": feeds}, level="story", top_k=2)
    assert res.status_code == 200
    assert_same(answer_rows(res.json()), expected)
    model = res.json()["model"]
    assert model["level"] == "story" and len(model["sha256"]) == 64
    assert model["id"] == f"model@{model['sha256'][:12]}"  # as `relevance --version` names it
    cut = server.post({"feeds": feeds}, threshold=0.0).json()
    assert all(i["relevant"] for f in cut["feeds"] for i in f["items"])
    assert cut["model"]["threshold"] == 0.0


def _bad_cases() -> list[tuple[str, object, list]]:
    good = make_feeds(2, 3, seed=7)
    no_items = {**good[0], "items": []}
    bad_item = {**good[0], "items": [{"id": "", "title": "x"}, *good[0]["items"]]}
    bad_label = {**good[0], "items": [{**good[0]["items"][0], "label": 7}]}
    huge = {**good[0], "items": [{"id": f"i{k}", "title": f"t {k}"} for k in range(41)]}
    return [
        ("not json", b"{feeds: 1", ["body"]),
        ("not an object", [1, 2], ["body"]),
        ("no feed id", {"article": good[0]["article"], "items": good[0]["items"]},
         ["body", "feed_id"]),
        ("empty items", no_items, ["body", "items"]),
        ("empty item id", {"feeds": [good[1], bad_item]}, ["body", "feeds", 1, "items", 0, "id"]),
        ("bad label", bad_label, ["body", "items", 0, "label"]),
        ("feeds not a list", {"feeds": "x"}, ["body", "feeds"]),
        ("duplicate feed ids", {"feeds": [good[0], good[0]]}, ["body", "feeds", 1, "feed_id"]),
        ("too many items", huge, ["body", "items"]),
        ("too many feeds", {"feeds": [good[0]] * 31}, ["body", "feeds"]),
        ("deep nesting", b"[" * 100_000 + b"]" * 100_000, ["body"]),
    ]  # fmt: skip


@pytest.mark.parametrize("name, body, loc", _bad_cases(), ids=[c[0] for c in _bad_cases()])
def test_a_bad_body_is_a_422_naming_the_field(server, name, body, loc):
    before = server.metric("relevance_feeds_scored_total")
    if isinstance(body, bytes):
        res = server.client.post(
            "/v1/score", content=body, headers={"content-type": "application/json"}
        )
    else:
        res = server.post(body)
    assert res.status_code == 422, res.text
    problem = res.json()["detail"][0]
    assert problem["loc"] == loc
    assert problem["msg"].startswith("request:")
    assert server.metric("relevance_feeds_scored_total") == before  # nothing reached the model
    assert server.post(make_feeds(1, 3, seed=8)[0]).status_code == 200  # still serving


def test_every_problem_of_a_request_is_listed(server):
    feeds = make_feeds(3, 3, seed=9)
    feeds[0]["items"][1]["id"] = 5
    feeds[2]["items"][0]["title"] = feeds[2]["items"][0]["summary"] = "<br>"
    res = server.post({"feeds": feeds})
    assert res.status_code == 422
    assert res.json()["problems"] == 2
    locs = [p["loc"] for p in res.json()["detail"]]
    assert locs == [["body", "feeds", 0, "items", 1, "id"], ["body", "feeds", 2, "items", 0]]


def test_bad_query_values_are_422(server):
    feed = make_feeds(1, 3)[0]
    for params, name in (({"level": "page"}, "level"), ({"top_k": 0}, "top_k"),
                         ({"threshold": 1.5}, "threshold")):  # fmt: skip
        res = server.post(feed, **params)
        assert res.status_code == 422
        assert res.json()["detail"][0]["loc"] == ["query", name]


def test_explain_equals_relevance_score_explain(server, model_dir, tmp_path):
    feeds = make_feeds(2, 5, seed=12)
    expected = cli_rows(tmp_path, model_dir, feeds, "--explain")
    assert all(row["passage"] for row in expected.values())
    res = server.post({"feeds": feeds}, explain=1)
    assert res.status_code == 200, res.text
    assert_same(answer_rows(res.json()), expected)
    plain = server.post({"feeds": feeds})  # a batch without explain has no such fields
    assert "passage" not in plain.json()["feeds"][0]["items"][0]


def test_a_body_over_the_limit_is_413_declared_or_streamed(server):
    big = b'{"feeds": [' + b" " * (1024 * 1024 + 10) + b"]}"
    headers = {"content-type": "application/json"}
    declared = server.client.post("/v1/score", content=big, headers=headers)
    assert declared.status_code == 413
    assert "limit of 1 MB" in declared.json()["detail"][0]["msg"]

    def chunks():  # no Content-Length: refused while the body is read
        for start in range(0, len(big), 64 * 1024):
            yield big[start : start + 64 * 1024]

    with httpx.Client(base_url=server.url, timeout=60) as fresh:
        streamed = fresh.post("/v1/score", content=chunks(), headers=headers)
    assert streamed.status_code == 413
    assert server.metric('relevance_errors_total{kind="too_large"}') >= 2
    assert server.post(make_feeds(1, 3, seed=8)[0]).status_code == 200


def test_only_json_bodies(server):
    res = server.client.post(
        "/v1/score", content=b"feed_id=1", headers={"content-type": "text/plain"}
    )
    assert res.status_code == 415
    gz = server.client.post(
        "/v1/score",
        content=b"\x1f\x8b",
        headers={"content-type": "application/json", "content-encoding": "gzip"},
    )
    assert gz.status_code == 415


def test_concurrent_requests_are_all_answered_and_kept_apart(server, model_dir, tmp_path):
    feeds = make_feeds(24, 6, seed=11)
    for k, feed in enumerate(feeds):
        feed["feed_id"] = f"page-{k % 3}"  # requests reuse feed ids: their feeds must not mix
    expected = []
    for k, feed in enumerate(feeds):  # each feed alone through `relevance score`
        (tmp_path / str(k)).mkdir()
        expected.append(cli_rows(tmp_path / str(k), model_dir, [feed]))

    def send(k: int) -> dict:
        with httpx.Client(base_url=server.url, timeout=120) as client:
            res = client.post("/v1/score", json=feeds[k])
            assert res.status_code == 200, res.text
            return answer_rows(res.json())

    with ThreadPoolExecutor(12) as pool:
        answers = list(pool.map(send, range(len(feeds))))
    for got, want in zip(answers, expected, strict=True):
        assert_same(got, want)


def test_health_readiness_model_and_openapi(server):
    assert server.client.get("/healthz").json() == {"status": "ok"}
    ready = server.client.get("/readyz")
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    info = server.client.get("/v1/model").json()
    assert info["limits"]["max_items_per_feed"] == 40
    assert info["model"]["levels"] == ["story", "topic"]
    schema = server.client.get("/openapi.json").json()
    assert "/v1/score" in schema["paths"]
    assert {"Feed", "ManyFeeds", "ScoreAnswer"} <= set(schema["components"]["schemas"])
    body = schema["paths"]["/v1/score"]["post"]["requestBody"]["content"]["application/json"]
    assert len(body["schema"]["oneOf"]) == 2


def test_metrics_count_requests_latency_items_cache_and_errors(server):
    feed = make_feeds(1, 5, seed=21)[0]
    items = server.metric("relevance_items_scored_total")
    assert server.post(feed).status_code == 200
    hits = server.metric("relevance_cache_hits_total")
    misses = server.metric("relevance_cache_misses_total")
    assert server.post(feed).status_code == 200  # the same feed again: every text is cached
    assert server.metric("relevance_cache_misses_total") == misses
    assert server.metric("relevance_cache_hits_total") > hits
    assert server.metric("relevance_items_scored_total") == items + 10
    text = server.client.get("/metrics").text
    for name in (
        'relevance_requests_total{endpoint="/v1/score",method="POST",status="200"}',
        'relevance_request_duration_seconds_bucket{endpoint="/v1/score",le="0.5"}',
        'relevance_errors_total{kind="invalid"}',
        "relevance_batch_feeds_bucket",
        "relevance_ready 1.0",
    ):
        assert name in text, name


def test_the_embedding_cache_is_shared_with_relevance_score(model_dir, tmp_path):
    feeds = make_feeds(4, 5, seed=31)
    cache = tmp_path / "shared-cache"
    src = tmp_path / "in.jsonl"
    src.write_text("".join(json.dumps(f) + "\n" for f in feeds), encoding="utf-8")
    args = ["score", str(src), "--model", str(model_dir), "--cache-dir", str(cache)]
    assert fake_cli.main([*args, "--out", str(tmp_path / "o.jsonl"), "--no-progress"]) == 0
    srv = Server(["--model", str(model_dir), "--cache-dir", str(cache)]).wait_ready()
    try:
        assert srv.post({"feeds": feeds}).status_code == 200
        assert srv.metric("relevance_cache_misses_total") == 0  # nothing re-encoded
        assert srv.metric("relevance_cache_hits_total") > 0
    finally:
        assert srv.stop() == 0


@pytest.fixture(scope="module")
def slow_server(model_dir, tmp_path_factory):
    """Each encoder call takes 1.5 s: requests overlap for sure."""
    cache = tmp_path_factory.mktemp("slow-cache")
    args = ["--model", str(model_dir), "--cache-dir", str(cache), "--batch-wait-ms", "50"]
    srv = Server([*args, "--max-queue-items", "40", "--max-batch-items", "40"],
                 env={"FAKE_DELAY": "1.5"})  # fmt: skip
    srv.wait_ready()
    yield srv
    srv.stop()


def test_concurrent_requests_share_encoder_calls(slow_server):
    feeds = make_feeds(6, 4, seed=41)
    batches = slow_server.metric("relevance_batches_total")

    def send(feed: dict) -> int:
        with httpx.Client(base_url=slow_server.url, timeout=120) as client:
            return client.post("/v1/score", json=feed).status_code

    with ThreadPoolExecutor(6) as pool:
        codes = list(pool.map(send, feeds))
    assert codes == [200] * 6
    assert slow_server.metric("relevance_batches_total") - batches <= 2  # not 6 calls


def test_a_full_queue_is_503_with_retry_after(slow_server):
    first = make_feeds(1, 30, seed=51)[0]
    second = make_feeds(1, 20, seed=52)[0]
    results: dict = {}
    t = threading.Thread(target=lambda: results.update(a=slow_server.post(first)))
    t.start()
    deadline = time.monotonic() + 30
    while slow_server.metric("relevance_queue_items") < 30 and time.monotonic() < deadline:
        time.sleep(0.05)
    refused = slow_server.post(second)
    assert refused.status_code == 503
    assert int(refused.headers["retry-after"]) >= 1
    assert "queue is full" in refused.json()["detail"]
    t.join(60)
    assert results["a"].status_code == 200  # the request already queued is answered


def test_sigterm_lets_in_flight_requests_finish(model_dir, tmp_path):
    srv = Server(["--model", str(model_dir), "--cache-dir", str(tmp_path / "c")],
                 env={"FAKE_DELAY": "2"}).wait_ready()  # fmt: skip
    feed = make_feeds(1, 4, seed=61)[0]
    results: dict = {}
    t = threading.Thread(target=lambda: results.update(r=srv.post(feed)))
    t.start()
    deadline = time.monotonic() + 30
    while srv.metric("relevance_queue_items") < 4 and time.monotonic() < deadline:
        time.sleep(0.05)
    srv.terminate()  # while the request is being scored
    t.join(60)
    assert results["r"].status_code == 200 and results["r"].json()["feeds"][0]["items"]
    assert srv.stop() == 0
    assert "relevance serve: stopped" in srv.log
    with pytest.raises(httpx.TransportError):
        httpx.get(srv.url + "/healthz", timeout=5)
