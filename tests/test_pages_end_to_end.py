"""Pages through the whole path: parse -> feeds JSONL; page -> long table -> scored output.

Also the fixture pages (tests/fixtures/pages): every one is read, and the extraction figures
against their hand-made truth (benchmarks/pages_eval.py) stay above the issue's floors.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
from batch_support import load_fake, save_fake_model

from relevance.batch import score_files
from relevance.batch.sinks import read_scores
from relevance.cli import main
from relevance.io.parsing import parse_pages

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "tests" / "fixtures" / "pages"
SEED = ROOT / "data" / "seed" / "page.txt"
FIXTURE = PAGES / "telegraph_chilli.html"  # has a self-link in its "Most Viewed"


@pytest.fixture
def fake_folder(tmp_path, fitted_fake_model):
    return save_fake_model(fitted_fake_model[0], tmp_path / "model")


def test_parse_writes_one_feed_per_page(tmp_path: Path) -> None:
    out = tmp_path / "feeds.jsonl"
    assert main(["parse", str(SEED), str(FIXTURE), "--out", str(out)]) == 0
    feeds = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [f["feed_id"] for f in feeds] == ["page", "telegraph_chilli"]
    assert [f["source"] for f in feeds] == [str(SEED), str(FIXTURE)]
    html = feeds[1]
    assert html["article"]["title"] == "World's hottest chilli contest leaves two in hospital"
    assert all({"module", "href", "self_link"} <= set(i) for i in html["items"])
    assert any(i["self_link"] for i in html["items"])
    assert all(i["href"].startswith("http") for i in html["items"])
    assert all(i["self_link"] is None and i["href"] is None for i in feeds[0]["items"])
    # what parse wrote is a feeds file the scorer reads as it reads the pages themselves
    from relevance.io.reader import read_input, read_inputs

    pages = read_inputs([SEED, FIXTURE])
    again = read_input(out)
    assert pages.drop(columns=["href", "self_link"]).equals(
        again.drop(columns=["href", "self_link"])
    )


def test_parse_refuses_a_page_without_a_module_or_skips_it(tmp_path: Path, capsys) -> None:
    bad = tmp_path / "lonely.html"
    bad.write_text(
        "<html><body><h1>A title of a page</h1><h2>Comments</h2>"
        "<p>" + "Some article text here. " * 20 + "</p></body></html>",
        encoding="utf-8",
    )
    out = tmp_path / "feeds.jsonl"
    assert main(["parse", str(bad), "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "lonely.html: no recommended-stories list found" in err and "'Comments'" in err
    assert not out.exists()
    summary = parse_pages([bad, FIXTURE], out, on_error="skip")
    assert summary.pages == 1 and len(summary.skipped) == 1
    assert len(out.read_text(encoding="utf-8").splitlines()) == 1


def test_parse_refuses_feeds_files(tmp_path: Path) -> None:
    from relevance.io.errors import InputError

    path = tmp_path / "f.jsonl"
    path.write_text('{"feed_id": "f"}\n', encoding="utf-8")
    with pytest.raises(InputError, match="feeds files need no parsing"):
        parse_pages([path], None)


@pytest.mark.parametrize("suffix", ["jsonl", "csv", "parquet"])
def test_scored_pages_carry_module_href_and_self_link(tmp_path, fake_folder, suffix) -> None:
    model, _ = load_fake(fake_folder, use_cache=False)
    out = tmp_path / f"scores.{suffix}"
    score_files(model, [SEED, FIXTURE], out, progress=None)
    scores = read_scores(out)
    assert {"module", "href", "self_link"} <= set(scores.columns)
    seed = scores[scores["feed_id"] == "page"]
    assert set(seed["module"]) == {"Recommended Stories"} and len(seed) == 20
    html = scores[scores["feed_id"] == "telegraph_chilli"]
    assert html["self_link"].astype(bool).sum() >= 1
    assert html["href"].str.startswith("http").all()


def test_jsonl_output_leaves_out_missing_extras(tmp_path, fake_folder) -> None:
    model, _ = load_fake(fake_folder, use_cache=False)
    out = tmp_path / "seed.jsonl"
    score_files(model, [SEED], out, progress=None)
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert all(r["module"] == "Recommended Stories" for r in rows)
    assert not any("href" in r or "self_link" in r for r in rows)


def test_score_cli_on_an_html_page(tmp_path, fake_folder, monkeypatch) -> None:
    import batch_support

    monkeypatch.setattr(
        "relevance.batch.prepare_model",
        lambda *a, **k: batch_support.load_fake(fake_folder, use_cache=False)[0],
    )
    out = tmp_path / "s.jsonl"
    assert main(["score", str(FIXTURE), "--out", str(out), "--no-progress"]) == 0
    rows = [json.loads(x) for x in out.read_text(encoding="utf-8").splitlines()]
    assert rows and all("module" in r and "href" in r for r in rows)


# -- the fixture pages ------------------------------------------------------------------


def _eval():
    sys.path.insert(0, str(ROOT / "benchmarks"))
    try:
        import pages_eval
    finally:
        sys.path.pop(0)
    return pages_eval


@pytest.fixture(scope="module")
def figures() -> list[dict]:
    ev = _eval()
    return [ev.evaluate(p) for p in sorted(PAGES.glob("*.html"))]


def test_fixtures_are_many_pages_of_many_publishers_each_recorded(figures) -> None:
    readme = (PAGES / "README.md").read_text(encoding="utf-8")
    assert len(figures) >= 15 and len({f["publisher"] for f in figures}) >= 8
    for f in figures:
        assert f"{f['page']}.html" in readme, f"{f['page']} is not recorded in README.md"


def test_extraction_meets_the_floors(figures) -> None:
    true = sum(f["items_true"] for f in figures)
    found = sum(f["items_found"] for f in figures)
    matched = sum(f["matched"] for f in figures)
    assert matched / true >= 0.9, "item recall"
    assert matched / found >= 0.9, "item precision"
    assert min(f["body_f1"] for f in figures) >= 0.85
    assert all(f["title_ok"] and f["first_sentence_ok"] for f in figures)


def test_the_metric_can_fail() -> None:
    ev = _eval()
    truth = [{"title": "Levee holds after the storm", "href": "https://e.com/a", "module": "R"}]
    assert ev.match(truth, [{"title": "Something else entirely", "href": "https://e.com/b",
                             "module": "R"}]) == []  # fmt: skip
    assert ev.token_f1("a b c", "d e f") == 0.0 and ev.token_f1("a b", "a b") == 1.0
