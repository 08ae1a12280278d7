"""Each bad-data check fires with its message, in every input format, before any embedding."""

from __future__ import annotations

import copy
import logging

import pytest
from fakes import FakeEmbedder, make_feeds
from training_helpers import write_feeds

from relevance.cli import main
from relevance.io.schema import InputError
from relevance.train.checks import DataCheckError
from relevance.train.pipeline import train

FORMATS = [".jsonl", ".csv", ".parquet"]


def _feeds(n: int = 12) -> list[dict]:
    return make_feeds(n, 6, seed=1)


def _train(paths, tmp_path, embedder, **kw):
    kw.setdefault("n_splits", 3)
    return train(paths, tmp_path / "model", embedder=embedder, use_cache=False, **kw)


def _refused(paths, tmp_path, match, **kw):
    """The check raises an InputError (the CLI exits 2) and nothing was embedded."""
    fake = FakeEmbedder()
    with pytest.raises(InputError, match=match):
        _train(paths, tmp_path, fake, **kw)
    assert fake.calls == 0
    assert not (tmp_path / "model").exists()


@pytest.mark.parametrize("suffix", FORMATS)
def test_one_class_only(tmp_path, suffix):
    feeds = _feeds()
    for f in feeds:
        for it in f["items"]:
            it["label"] = 0
    path = write_feeds(feeds, tmp_path / f"d{suffix}")
    _refused([path], tmp_path, r"one class only at the story level: all 72 items are off-topic")


@pytest.mark.parametrize("suffix", FORMATS)
def test_feed_without_items(tmp_path, suffix):
    feeds = _feeds()
    feeds[3]["items"] = []
    path = write_feeds(feeds, tmp_path / f"d{suffix}")
    # The scoring validator decides, as for ``relevance score``: JSONL has an empty list,
    # a table a placeholder row without an item id.
    if suffix == ".jsonl":
        _refused([path], tmp_path, r"d\.jsonl:4: field 'items': got \[\], expected at least one")
    else:
        _refused([path], tmp_path, r"field 'item_id': got '', expected a non-empty string")


@pytest.mark.parametrize("suffix", FORMATS)
def test_duplicate_item_id_within_a_feed(tmp_path, suffix):
    feeds = _feeds()
    feeds[2]["items"][4]["id"] = feeds[2]["items"][1]["id"]
    path = write_feeds(feeds, tmp_path / f"d{suffix}")
    dup = feeds[2]["items"][1]["id"]
    _refused([path], tmp_path, rf"item(s\.|_)id'?: got '{dup}'.*expected item ids unique within")


@pytest.mark.parametrize("suffix", FORMATS)
def test_duplicate_feed_id_across_files(tmp_path, suffix):
    feeds = _feeds()
    other = copy.deepcopy(_feeds()[:4])
    for f in other:
        f["article"]["body"] += " Different article."
    a = write_feeds(feeds, tmp_path / f"a{suffix}")
    b = write_feeds(other, tmp_path / f"b{suffix}")
    _refused(
        [a, b],
        tmp_path,
        r"b\.\w+:(row )?\d+: field 'feed_id': got 'feed-000', expected each feed once",
    )


@pytest.mark.parametrize("suffix", FORMATS)
def test_duplicate_feed_id_within_a_file(tmp_path, suffix):
    feeds = _feeds()
    clash = copy.deepcopy(feeds[5])
    clash["feed_id"] = feeds[1]["feed_id"]
    clash["article"]["body"] = "Another article entirely."
    path = write_feeds([*feeds, clash], tmp_path / f"d{suffix}")
    _refused([path], tmp_path, r"field 'feed_id': got 'feed-001', expected each feed once")


@pytest.mark.parametrize("suffix", FORMATS)
def test_too_few_groups_for_the_folds(tmp_path, suffix):
    path = write_feeds(_feeds(4), tmp_path / f"d{suffix}")
    _refused([path], tmp_path, r"too few groups for the folds: 4 groups for 5 folds", n_splits=5)


@pytest.mark.parametrize("suffix", FORMATS)
def test_leakage_between_training_and_eval_is_caught(tmp_path, suffix):
    feeds = _feeds()
    held = make_feeds(6, 6, seed=9)
    for f in held:
        f["feed_id"] = "eval-" + f["feed_id"]
    leaked = feeds[7]["items"][2]
    held[4]["items"][3].update(title=leaked["title"], summary=leaked["summary"])
    train_path = write_feeds(feeds, tmp_path / f"train{suffix}")
    eval_path = write_feeds(held, tmp_path / f"eval{suffix}")
    _refused(
        [train_path],
        tmp_path,
        r"leakage: the item text '.+' is in the training data \(.*train\.\w+:(line|row) \d+, "
        r"feed 'feed-007'\) and in the --eval data \(.*eval\.\w+:(line|row) \d+, "
        r"feed 'eval-feed-004'\)",
        eval_data=[eval_path],
    )


@pytest.mark.parametrize("suffix", [".csv", ".parquet"])
def test_missing_label_is_named(tmp_path, suffix):
    feeds = _feeds()
    feeds[6]["items"][0]["label"] = None
    path = write_feeds(feeds, tmp_path / f"d{suffix}")
    _refused([path], tmp_path, r"(line|row) \d+: item '.+': field 'label': got .*expected 0 or 1")


def test_item_without_text_in_csv(tmp_path):
    feeds = _feeds()
    feeds[0]["items"][1].update(title="", summary="")
    path = write_feeds(feeds, tmp_path / "d.csv")
    _refused(
        [path], tmp_path, r"d\.csv:\d+: field 'item_title': got '', expected a non-empty item_t"
    )


def test_compare_without_eval_and_promote_without_compare(tmp_path):
    path = write_feeds(_feeds(), tmp_path / "d.jsonl")
    _refused([path], tmp_path, "--compare needs --eval", compare=tmp_path)
    _refused([path], tmp_path, "--promote needs --compare", promote_model=True)


def test_imbalance_warns(tmp_path, caplog):
    feeds = make_feeds(40, 8, seed=4)
    for i, f in enumerate(feeds):
        for j, it in enumerate(f["items"]):
            it["label"] = int(i % 4 == 0 and j == 0)
    path = write_feeds(feeds, tmp_path / "d.jsonl")
    with caplog.at_level(logging.WARNING, logger="relevance"):
        _train([path], tmp_path, FakeEmbedder())
    assert "strongly imbalanced: 3.1% of 320 items are relevant" in caplog.text


def test_cli_exits_2_with_the_message(tmp_path, capsys):
    feeds = _feeds()
    feeds[2]["items"][4]["id"] = feeds[2]["items"][1]["id"]
    path = write_feeds(feeds, tmp_path / "d.csv")
    assert main(["train", str(path), "--out", str(tmp_path / "m"), "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("relevance train: error: ") and "unique within a feed" in err


def test_data_check_error_is_an_input_error():
    assert issubclass(DataCheckError, InputError)
