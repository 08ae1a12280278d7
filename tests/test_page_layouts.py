"""The text layouts scrapers write: module headings, bullets, numbers, links, dates, blurbs."""

from __future__ import annotations

import datetime
import hashlib
import json
from pathlib import Path

import pytest

from relevance.io.page import PageParseError, parse_page, read_page
from relevance.io.pages import page_feed

SEED = Path(__file__).parents[1] / "data/seed/page.txt"
#: sha256 of main's parse of the seed page (date, title, body, items with blurbs and lines),
#: recorded before the layouts below were added: the seed page must parse exactly as before.
SEED_PARSE = "cd479f24cce22c8c4c59cbb67fdf97e4f2324878e3779e015d2c00b75bd495a7"

BODY = "date 2024-05-01 Flood warning\n\nRiver flood rain water levee.\n\n"


def test_seed_page_parses_exactly_as_before() -> None:
    page = read_page(SEED)
    record = {
        "date": str(page.date),
        "title": page.title,
        "body": page.body,
        "items": [[i.title, i.blurb, i.line] for i in page.items],
    }
    digest = hashlib.sha256(
        json.dumps(record, ensure_ascii=False, sort_keys=True).encode()
    ).hexdigest()
    assert digest == SEED_PARSE
    assert len(page.items) == 20 and {i.module for i in page.items} == {"Recommended Stories"}


HEADINGS = [
    "Recommended Stories",
    "More on this story",
    "Related",
    "Related Stories",
    "Related stories:",
    "RELATED",
    "Recommended",
    "Recommended for you",
    "Read more",
    "READ MORE:",
    "More in Politics",
    "More in World News",
    "Most read",
    "Most Popular",
    "Top stories",
    "You may also like",
    "## Related",
    "### More on this story:",
    "# Most read",
    "**Related stories**",
    "  related stories  ",
]


@pytest.mark.parametrize("heading", HEADINGS)
def test_every_module_heading(heading: str) -> None:
    page = parse_page(BODY + f"{heading}\n- First story here\n- Second story here\n")
    assert [i.title for i in page.items] == ["First story here", "Second story here"]
    assert page.body == "River flood rain water levee."
    module = page.items[0].module
    assert module and module.strip("#* :").lower() in heading.strip("#* :").lower()


@pytest.mark.parametrize("bullet", ["•", "-", "*", "·", "–", "—", "1.", "1)"])
def test_every_bullet(bullet: str) -> None:
    marks = [bullet, bullet] if not bullet[0].isdigit() else [bullet, "2" + bullet[1:]]
    text = (
        BODY
        + "Related\n"
        + "".join(f"{m} Story {n}\n  its blurb\n" for n, m in zip((1, 2), marks, strict=True))
    )
    page = parse_page(text)
    assert [(i.title, i.blurb) for i in page.items] == [
        ("Story 1", "its blurb"),
        ("Story 2", "its blurb"),
    ]


def test_tight_bullet_and_numbering_up_to_three_digits() -> None:
    page = parse_page(BODY + "Most read\n•Tight\n")
    assert [i.title for i in page.items] == ["Tight"]
    page = parse_page(BODY + "Most read\n9. Nine\n10. Ten\n100. Hundred\n")
    assert [i.title for i in page.items] == ["Nine", "Ten", "Hundred"]


def test_markdown_links_keep_their_url_as_href() -> None:
    text = BODY + (
        "## Related\n"
        "- [Levee breaks upstream](https://example.com/news/levee-breaks-upstream)\n"
        "  Water rose overnight.\n"
        "- [Dam (old) holds](https://example.com/a_(b)) – engineers relieved\n"
        "- Rain [continues](https://example.com/rain) all week\n"
    )
    page = parse_page(text)
    assert [(i.title, i.href, i.blurb) for i in page.items] == [
        ("Levee breaks upstream", "https://example.com/news/levee-breaks-upstream",
         "Water rose overnight."),
        ("Dam (old) holds", "https://example.com/a_(b)", "engineers relieved"),
        ("Rain continues all week", "https://example.com/rain", ""),
    ]  # fmt: skip
    assert all("](" not in i.title for i in page.items)


def test_markdown_link_lines_without_bullets_are_the_items() -> None:
    text = BODY + (
        "Read more:\n"
        "[First story](https://e.com/1)\nIts blurb, over\ntwo lines.\n\n"
        "[Second story](https://e.com/2)\n"
    )
    page = parse_page(text)
    assert [(i.title, i.blurb, i.href) for i in page.items] == [
        ("First story", "Its blurb, over two lines.", "https://e.com/1"),
        ("Second story", "", "https://e.com/2"),
    ]


def test_markdown_in_the_body_is_text() -> None:
    page = parse_page("# Title\n\n## A subhead\nSee [the report](https://e.com/r).\n")
    assert page.title == "Title"
    assert page.body == "A subhead\n\nSee the report."


def test_a_blurb_line_starting_with_a_dash_is_no_item() -> None:
    text = BODY + (
        "Recommended Stories\n"
        "  • Storm season starts\n"
        "    - the forecasters said on Monday, warning of floods\n"
        "  • Dam repaired\n"
        "- a dash at the items' indent under • bullets is still blurb\n"
    )
    page = parse_page(text)
    assert [i.title for i in page.items] == ["Storm season starts", "Dam repaired"]
    assert page.items[0].blurb == "- the forecasters said on Monday, warning of floods"
    assert page.items[1].blurb.startswith("- a dash")


def test_items_follow_the_first_bullet_kind_and_indent() -> None:
    text = BODY + "Related\n- One\n  * not an item, deeper\n- Two\n\n  blurb, after a blank\n"
    page = parse_page(text)
    assert [(i.title, i.blurb) for i in page.items] == [
        ("One", "* not an item, deeper"),
        ("Two", "blurb, after a blank"),
    ]


def test_plain_lines_least_indented_are_items_or_blocks() -> None:
    indented = BODY + "Related\nFirst title\n   first blurb\nSecond title\n   second blurb\n"
    assert [(i.title, i.blurb) for i in parse_page(indented).items] == [
        ("First title", "first blurb"),
        ("Second title", "second blurb"),
    ]
    blocks = BODY + "Related\n\nFirst title\nfirst blurb\n\nSecond title\nsecond blurb\n"
    assert [(i.title, i.blurb) for i in parse_page(blocks).items] == [
        ("First title", "first blurb"),
        ("Second title", "second blurb"),
    ]
    lines = BODY + "Related\nOne\nTwo\nThree\n"
    assert [i.title for i in parse_page(lines).items] == ["One", "Two", "Three"]


def test_several_modules_and_sponsored_ones_dropped() -> None:
    text = BODY + (
        "## More on this story\n- Same story\n"
        "## Sponsored\n- Buy now, pay later\n- An ad\n"
        "## Most read\n1. Other story\n"
    )
    page = parse_page(text)
    assert [(i.module, i.title) for i in page.items] == [
        ("More on this story", "Same story"),
        ("Most read", "Other story"),
    ]
    assert [(d.module, d.reason, d.count) for d in page.dropped] == [("Sponsored", "sponsored", 2)]


def test_a_loose_heading_in_the_body_needs_a_list_after_it() -> None:
    text = "Title\nMore on the economy\nThe minister said growth slowed.\n\nLatest\nThen more.\n"
    page = parse_page(text)
    assert page.items == ()
    assert "The minister said growth slowed." in page.body and "Then more." in page.body


DATES = {
    "date 2019-11-19 T": datetime.date(2019, 11, 19),
    "date 19-11-2019 T": datetime.date(2019, 11, 19),
    "date 19.11.2019 T": datetime.date(2019, 11, 19),
    "date 19/11/2019 T": datetime.date(2019, 11, 19),
    "date 11/19/2019 T": datetime.date(2019, 11, 19),
    "date 2019/11/19 T": datetime.date(2019, 11, 19),
    "date 20191119 T": datetime.date(2019, 11, 19),
    "date 2022-1-5 T": datetime.date(2022, 1, 5),
    "date 19 November 2019 T": datetime.date(2019, 11, 19),
    "date Nov. 19, 2019 T": datetime.date(2019, 11, 19),
    "date Tuesday, 19 November 2019 T": datetime.date(2019, 11, 19),
    "date 2019-11-19T10:30:00Z T": datetime.date(2019, 11, 19),
}


@pytest.mark.parametrize("line", DATES)
def test_every_date_format_on_the_title_line(line: str) -> None:
    page = parse_page(f"{line}\nbody\n")
    assert page.date == DATES[line] and page.title == "T"


@pytest.mark.parametrize(
    "text",
    [
        "Title\n19-11-2019\nbody\n",
        "Title\nPublished 19 November 2019, 10:32 GMT\nbody\n",
        "Updated: 2019-11-19\nTitle\nbody\n",
    ],
)
def test_a_date_on_its_own_line(text: str) -> None:
    page = parse_page(text)
    assert page.date == datetime.date(2019, 11, 19)
    assert page.title == "Title" and page.body == "body"


def test_no_date_at_all() -> None:
    page = parse_page("Title only\nbody\n")
    assert page.date is None and page.title == "Title only"
    assert parse_page("date night ideas\nx").title == "date night ideas"


@pytest.mark.parametrize("value", ["2022-13-45", "2022-02-30", "31-02-2020", "32/01/2020"])
def test_a_date_that_is_no_calendar_date_is_an_error(value: str) -> None:
    with pytest.raises(PageParseError) as err:
        parse_page(f"date {value} Title\nbody", source="feed.txt")
    assert str(err.value).startswith("feed.txt:1:") and repr(value) in str(err.value)
    assert "2019-11-19" in str(err.value)  # says which formats are expected


def test_html_given_as_a_text_page_is_a_clear_error() -> None:
    with pytest.raises(PageParseError, match="this is HTML, not a text page"):
        parse_page("<!DOCTYPE html>\n<html><head><title>x</title></head><body></body></html>")


def test_page_feed_carries_module_and_href() -> None:
    page = parse_page(BODY + "Related\n- [A story](https://e.com/a)\n- Another story\n")
    feed = page_feed(page, "p", "p.txt")
    assert feed["feed_id"] == "p" and feed["source"] == "p.txt"
    assert feed["article"]["date"] == "2024-05-01"
    assert [(i["id"], i["module"], i["href"], i["self_link"]) for i in feed["items"]] == [
        ("1", "Related", "https://e.com/a", None),
        ("2", "Related", None, None),
    ]


def test_a_text_page_without_a_module_names_its_headings() -> None:
    page = parse_page("Title\n## Background\nBody text.\n")
    with pytest.raises(PageParseError, match="no recommended-stories list found.*'Background'"):
        page_feed(page, "p", "p.txt")
