"""Tests for relevance.io.page: the seed page and small built variants of its format."""

from __future__ import annotations

import datetime
import json
from pathlib import Path

import pytest

from relevance.io.page import Page, PageItem, PageParseError, looks_like_page, parse_page, read_page

SEED = Path(__file__).parents[1] / "data/seed/page.txt"

ARTICLE = """date 2022-01-21 Big &amp; small news
  • Oops!
    Something went wrong.
    Please try again later.
·12 min read
In this article:
  • Jane Doe
    Jane Doe
    Minister of Examples
First paragraph about the summit.

Second paragraph,
  wrapped over\tlines.
Map of the region&#39;s borders
Map of the region's borders
Analysis box by Some One, correspondent
Our goal is to create a safe and engaging place for users to connect over interests and passions. \
We are temporarily suspending article commenting
"""


@pytest.fixture(scope="module")
def seed() -> Page:
    return read_page(SEED)


def test_seed_header(seed: Page) -> None:
    assert seed.date == datetime.date(2022, 1, 21)
    assert seed.title.startswith("Ukraine tension")


def test_seed_items(seed: Page) -> None:
    assert len(seed.items) == 20
    assert seed.items[0].title == "Things are getting edgy here in Ukraine. And cold."
    assert seed.items[0].blurb.startswith("With some 125,000 Russian troops")
    titles = [item.title for item in seed.items]
    assert any(t.startswith("Otto Warmbier") for t in titles)
    assert any(t.startswith("'Minor incursion'") for t in titles)
    assert all(item.title and item.blurb for item in seed.items)


def test_seed_body_is_clean(seed: Page) -> None:
    body = seed.body
    assert "Blinken" in body
    assert body.count("Nato's expansion") <= 1
    for junk in (
        "&#39;",
        "Oops!",
        "Something went wrong",
        "min read",
        "In this article",
        "Analysis box by",
        "temporarily suspending article commenting",
        "Recommended Stories",
        "Things are getting edgy",
    ):
        assert junk not in body, junk
    assert "&#39;" not in seed.title
    assert all("&#39;" not in i.title + i.blurb for i in seed.items)
    # Entity-card descriptions are template, the article's own mentions stay.
    assert "Secretary of State" in body and "71th U.S. Secretary of State" not in body


def test_seed_paragraphs(seed: Page) -> None:
    paras = seed.body.split("\n\n")
    assert all(p == p.strip() and "  " not in p and "\n" not in p for p in paras)
    assert "Russia has 100,000 troops at the border, but denies planning to invade." in paras


def test_template_boilerplate_removed() -> None:
    page = parse_page(ARTICLE)
    assert page.title == "Big & small news"
    assert page.body == "First paragraph about the summit.\n\nSecond paragraph, wrapped over lines."
    assert page.items == ()


def test_no_recommended_section() -> None:
    page = parse_page("date 2024-05-01 Title\n\nOnly a body.\n")
    assert page.items == ()
    assert page.body == "Only a body."


def test_items_with_empty_blurbs_and_bullets() -> None:
    """The first bullet fixes the items' bullet: other bullets at its indent are blurb."""
    text = (
        "Title\nBody.\n  recommended stories  \nstray template text\n"
        "• One\n\n• Two\n  blurb of two,\n\n  continued\n* Three\n- Four\n• Five\n"
    )
    page = parse_page(text)
    module = "recommended stories"
    assert page.items == (
        PageItem("One", "", module=module),
        PageItem("Two", "blurb of two, continued * Three - Four", module=module),
        PageItem("Five", "", module=module),
    )


def test_entities_in_items() -> None:
    text = "T\nRecommended Stories\n• Q&amp;A: &quot;why&quot;\n  Tom &amp; Jerry&#39;s &lt;b&gt;\n"
    (item,) = parse_page(text).items
    assert item == PageItem('Q&A: "why"', "Tom & Jerry's <b>", module="Recommended Stories")


def test_blank_lines_crlf_bom_tabs() -> None:
    lf = "date 2022-01-21 T\n\nPara one.\n\nPara\ttwo.\n\nRecommended Stories\n\n• A\n\n  a blurb\n"
    messy = "\ufeff\r\n\r\n \t" + lf.replace("\n", "\r\n\r\n\r\n").replace("\t", " \t ")
    assert parse_page(messy) == parse_page(lf)
    page = parse_page(messy)
    assert page.body == "Para one.\n\nPara two."
    assert page.items == (PageItem("A", "a blurb", module="Recommended Stories"),)


def test_no_date_line() -> None:
    page = parse_page("\n\n  Just a title\nBody text.\n")
    assert page.date is None
    assert page.title == "Just a title"
    assert page.body == "Body text."
    assert parse_page("date night ideas\nx").title == "date night ideas"


@pytest.mark.parametrize("value", ["2022-13-45", "2022-02-30", "2022-1", "13/13/2020"])
def test_bad_date(value: str) -> None:
    with pytest.raises(PageParseError) as err:
        parse_page(f"date {value} Title\nbody", source="feed.txt")
    msg = str(err.value)
    assert msg.startswith("feed.txt:1:")
    assert repr(value) in msg and "2019-11-19" in msg
    assert err.value.line == 1


def test_bad_date_line_number_counts_blank_lines() -> None:
    with pytest.raises(PageParseError, match=r"<text>:3: .*'2022-13-45'"):
        parse_page("\n\ndate 2022-13-45 X\n")


def test_date_without_title() -> None:
    """A date line alone is a date line: the next line is the title; none is an error."""
    page = parse_page("date 2022-01-21\nThe title\nbody")
    assert (page.date, page.title, page.body) == (datetime.date(2022, 1, 21), "The title", "body")
    with pytest.raises(PageParseError, match="no title"):
        parse_page("date 2022-01-21\n\n")


@pytest.mark.parametrize("text", ["", "   ", "\n\t\r\n", "\ufeff \n"])
def test_empty_page(text: str) -> None:
    with pytest.raises(PageParseError, match="empty page"):
        parse_page(text)


def test_bullet_without_title() -> None:
    with pytest.raises(PageParseError, match=r"<text>:4: .*expected an item title"):
        parse_page("T\nbody\nRecommended Stories\n•\n")


def test_read_page_bad_utf8(tmp_path: Path) -> None:
    path = tmp_path / "bad.txt"
    path.write_bytes(b"date 2022-01-21 T\nab\xffcd\n")
    with pytest.raises(PageParseError) as err:
        read_page(path)
    assert str(path) in str(err.value) and "byte offset 20" in str(err.value)


def test_read_page_bom(tmp_path: Path) -> None:
    path = tmp_path / "bom.txt"
    path.write_text("\ufeffdate 2022-01-21 T\nbody\n", encoding="utf-8")
    assert read_page(path).date == datetime.date(2022, 1, 21)


def test_looks_like_page() -> None:
    assert looks_like_page(SEED.read_text(encoding="utf-8"))
    assert looks_like_page("\n  date 2022-01-21 Title\n")
    assert looks_like_page("Some title\nbody\n Recommended Stories \n• x\n")
    assert looks_like_page("date 2022-13-45 X\n")  # a page, even if a bad one
    feed = {"feed_id": "f1", "article": {"title": "t", "body": "Recommended Stories"}}
    jsonl = json.dumps(feed) + "\n"
    assert not looks_like_page(jsonl)
    assert not looks_like_page("\n  " + jsonl)
    assert not looks_like_page("{\n\nRecommended Stories\n")
    assert not looks_like_page("")
    assert not looks_like_page("Just a title\nbody\n")
