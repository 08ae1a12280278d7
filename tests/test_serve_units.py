"""The service's parts without a server: settings and flags, the batcher, the request reader."""

from __future__ import annotations

import asyncio
import json
import threading
import time
from pathlib import Path

import fake_cli
import pandas as pd
import pytest
from batch_support import save_fake_model
from fakes import make_feeds

from relevance.io.errors import InputError
from relevance.io.reader import read_input
from relevance.io.records import records_frame
from relevance.persistence.location import default_model_dir
from relevance.serve import intake
from relevance.serve.batcher import Job, MicroBatcher, Overloaded, Stopped
from relevance.serve.settings import ServeSettings, SettingsError

# -- settings and flags ---------------------------------------------------------------------


def test_settings_round_trip_through_the_environment(tmp_path):
    s = ServeSettings(model=tmp_path, level="story", top_k=3, port=0, use_cache=False)
    assert ServeSettings.from_env(s.to_env()) == s


@pytest.mark.parametrize(
    "name, value, message",
    [
        ("PORT", "http", "RELEVANCE_SERVE_PORT='http': expected an integer 0-65535"),
        ("PORT", "70000", "RELEVANCE_SERVE_PORT 70000: expected an integer 0-65535"),
        ("MAX_BODY_MB", "0", "expected a size in MB in (0, 1024]"),
        ("LEVEL", "page", "expected one of ('story', 'topic')"),
        ("USE_CACHE", "maybe", "expected true or false"),
        ("THRESHOLD", "nan", "expected a probability in [0, 1]"),
    ],
)
def test_a_bad_environment_value_is_named(tmp_path, name, value, message):
    env = {"RELEVANCE_SERVE_MODEL": str(tmp_path), f"RELEVANCE_SERVE_{name}": value}
    with pytest.raises(SettingsError, match=None) as err:
        ServeSettings.from_env(env)
    assert message in str(err.value)


def test_the_model_folder_comes_from_relevance_model_or_the_default_lookup(tmp_path, monkeypatch):
    assert ServeSettings.from_env({"RELEVANCE_MODEL": str(tmp_path)}).model == tmp_path
    monkeypatch.delenv("RELEVANCE_MODEL", raising=False)
    found = ServeSettings.from_env({}).model
    assert found == default_model_dir() and (found / "config.json").is_file()


@pytest.fixture(scope="module")
def story_model(tmp_path_factory, fitted_fake_model):
    """A model trained on labels alone: it has the story level only."""
    return save_fake_model(fitted_fake_model[0], tmp_path_factory.mktemp("units") / "story")


@pytest.mark.parametrize(
    "flags, message",
    [
        (["--port", "70000"], "--port: '70000': expected an integer 0-65535"),
        (["--port", "x"], "--port: 'x': expected an integer 0-65535"),
        (["--workers", "0"], "--workers: '0': expected an integer 1-256"),
        (["--max-body-mb", "-1"], "--max-body-mb: '-1': expected a size in MB in (0, 1024]"),
        (["--batch-wait-ms", "5000"], "--batch-wait-ms: '5000': expected milliseconds"),
        (["--level", "page"], "--level: invalid choice: 'page'"),
        (["--log-level", "loud"], "--log-level: invalid choice: 'loud'"),
        (["--threshold", "1.5"], "--threshold: '1.5': expected a probability in [0, 1]"),
        (["--model", "/no/such/folder"], "--model: '/no/such/folder': expected an existing"),
        (["--host", " "], "--host: ' ': expected a host name or IP address"),
        (["--root-path", "api"], "--root-path: 'api': expected '' or a path like /relevance"),
    ],
)
def test_bad_flags_exit_2_naming_the_flag(capsys, story_model, flags, message):
    with pytest.raises(SystemExit) as stop:
        fake_cli.main(["serve", "--model", str(story_model), *flags])
    assert stop.value.code == 2
    assert message in capsys.readouterr().err


def test_inconsistent_flags_and_levels_exit_2_before_binding(capsys, story_model):
    args = ["serve", "--model", str(story_model), "--max-batch-items", "10"]
    assert fake_cli.main([*args, "--max-queue-items", "5"]) == 2
    assert "--max-batch-items 10 exceeds --max-queue-items 5" in capsys.readouterr().err
    assert fake_cli.main(["serve", "--model", str(story_model), "--level", "topic"]) == 2
    assert "only the story level" in capsys.readouterr().err


def test_without_model_the_cli_uses_the_default_lookup(capsys, story_model, monkeypatch):
    monkeypatch.setenv("RELEVANCE_MODEL", str(story_model))  # what default_model_dir reads first
    assert fake_cli.main(["serve", "--level", "topic"]) == 2  # so this model was loaded
    assert "only the story level" in capsys.readouterr().err


# -- the batcher ------------------------------------------------------------------------------


def _recorder(delay: float = 0.0):
    calls: list[list] = []

    def run(jobs: list[Job]) -> None:
        calls.append([j.payload for j in jobs])
        time.sleep(delay)
        for job in jobs:
            job.future.set_result(job.payload)

    return calls, run


def test_jobs_of_one_key_share_a_batch_and_keys_never_mix():
    calls, run = _recorder()
    batcher = MicroBatcher(run, wait=0.2, max_items=100, max_pending=1000)
    jobs = [Job(k, 1, key="a" if k % 2 else "b") for k in range(6)]
    futures = [batcher.submit(j) for j in jobs]  # queued before the thread starts
    batcher.start()
    assert [f.result(10) for f in futures] == list(range(6))
    batcher.stop(10)
    assert sorted(map(sorted, calls)) == [[0, 2, 4], [1, 3, 5]]


def test_a_batch_holds_at_most_max_items_and_starts_when_full():
    calls, run = _recorder()
    batcher = MicroBatcher(run, wait=30, max_items=5, max_pending=100)
    futures = [batcher.submit(Job(k, 2)) for k in range(6)]
    start = time.monotonic()
    batcher.start()
    for f in futures[:4]:
        f.result(10)  # full batches (the next job does not fit) do not wait out the 30 s
    assert time.monotonic() - start < 10
    assert calls[:2] == [[0, 1], [2, 3]]
    batcher.stop(10)  # stopping starts the last, partial batch at once
    assert [f.result(10) for f in futures[4:]] == [4, 5]


def test_a_full_queue_refuses_with_a_retry_time_and_an_empty_one_takes_anything():
    calls, run = _recorder(delay=0.5)
    batcher = MicroBatcher(run, wait=0, max_items=10, max_pending=10)
    batcher.start()
    big = batcher.submit(Job("big", 50))  # larger than the queue, but the queue was empty
    with pytest.raises(Overloaded) as full:
        batcher.submit(Job("more", 1))
    assert full.value.retry_after >= 1 and "queue is full" in str(full.value)
    assert big.result(10) == "big"
    batcher.stop(10)
    with pytest.raises(Stopped):
        batcher.submit(Job("late", 1))


def test_a_failing_batch_fails_its_jobs_and_the_thread_goes_on():
    def run(jobs: list[Job]) -> None:
        if jobs[0].payload == "bad":
            raise RuntimeError("boom")
        for job in jobs:
            job.future.set_result("ok")

    batcher = MicroBatcher(run, wait=0, max_items=1, max_pending=10)
    batcher.start()
    bad = batcher.submit(Job("bad", 1))
    with pytest.raises(RuntimeError, match="boom"):
        bad.result(10)
    assert batcher.submit(Job("good", 1)).result(10) == "ok"
    batcher.stop(10)


def test_stop_finishes_queued_work():
    calls, run = _recorder(delay=0.2)
    batcher = MicroBatcher(run, wait=0, max_items=1, max_pending=10)
    batcher.start()
    futures = [batcher.submit(Job(k, 1)) for k in range(3)]
    batcher.stop(30)
    assert [f.result(0) for f in futures] == [0, 1, 2]


def test_a_request_on_its_way_in_is_waited_for():
    calls, run = _recorder()
    batcher = MicroBatcher(run, wait=5, max_items=100, max_pending=100)
    batcher.start()
    first = batcher.submit(Job(0, 1))
    first.result(10)  # nothing else was arriving: it did not wait 5 s
    with batcher.arriving():
        second = batcher.submit(Job(1, 1))

        def late() -> None:
            time.sleep(0.3)
            batcher.submit(Job(2, 1))

        t = threading.Thread(target=late)
        t.start()
        t.join()
    assert second.result(10) == 1
    batcher.stop(10)
    assert [1, 2] in calls


def test_after_a_shared_batch_the_clients_just_answered_get_the_wait_to_come_back():
    calls, run = _recorder(delay=1.0)
    batcher = MicroBatcher(run, wait=1.0, max_items=100, max_pending=100)
    first = [batcher.submit(Job(k, 1)) for k in (0, 1)]  # one batch of two: not a lone client
    batcher.start()
    time.sleep(0.1)
    during = batcher.submit(Job(2, 1))  # arrives while [0, 1] is scored; its own wait ends early
    for f in first:
        f.result(10)
    time.sleep(0.5)  # past 1 s after job 2 arrived, within 1 s of the batch's end
    after = batcher.submit(Job(3, 1))
    assert (during.result(10), after.result(10)) == (2, 3)
    batcher.stop(10)
    assert calls == [[0, 1], [2, 3]]


# -- reading a request ----------------------------------------------------------------------


def test_records_make_the_same_table_as_the_jsonl_reader(tmp_path):
    feeds = make_feeds(6, 5, seed=2, graded=True)
    feeds[1]["items"][0]["title"] = "<b>Tagged</b> &amp; escaped"
    path = tmp_path / "feeds.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in feeds), encoding="utf-8")
    wheres = [f"feeds.{k}" for k in range(len(feeds))]
    pd.testing.assert_frame_equal(records_frame(feeds, "request", wheres), read_input(path))


def test_a_bad_record_is_refused_as_the_jsonl_reader_refuses_it(tmp_path):
    feed = make_feeds(1, 3)[0]
    feed["items"][1]["grade"] = 5
    path = tmp_path / "bad.jsonl"
    path.write_text(json.dumps(feed) + "\n", encoding="utf-8")
    with pytest.raises(InputError) as from_file:
        read_input(path)
    with pytest.raises(InputError) as from_request:
        records_frame([feed], "request", ["body"])
    assert (from_request.value.field, from_request.value.expected) == (
        from_file.value.field,
        from_file.value.expected,
    )


async def _chunks(parts: list[bytes]):
    for part in parts:
        yield part


def test_the_body_limit_holds_while_reading():
    read = asyncio.run(intake.read_body(_chunks([b"ab", b"cd"]), 4, None))
    assert read == b"abcd"
    with pytest.raises(intake.TooLarge, match="more than 4 bytes sent"):
        asyncio.run(intake.read_body(_chunks([b"ab", b"cd", b"e"]), 4, None))
    with pytest.raises(intake.TooLarge, match="Content-Length 9"):
        asyncio.run(intake.read_body(_chunks([b"x"]), 4, "9"))


def test_a_feed_over_the_item_limit_is_refused_before_validation():
    feed = make_feeds(1, 6)[0]
    with pytest.raises(intake.Invalid) as err:
        intake.parse(json.dumps(feed).encode(), max_feeds=5, max_items=5)
    assert "at most 5 items per feed" in err.value.problems[0]["msg"]
    parsed = intake.parse(json.dumps({"feeds": [feed]}).encode(), max_feeds=5, max_items=6)
    assert (parsed.feeds, parsed.items) == (1, 6)


def test_docs_list_every_flag():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "serve.md").read_text(encoding="utf-8")
    from relevance.serve.settings import SPEC, flag

    missing = [flag(n) for n in SPEC if flag(n) not in doc and n not in ("use_cache", "access_log")]
    assert not missing
