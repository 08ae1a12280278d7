"""Arbitrary bytes and random markup as HTML: always a page or a clear error, never a traceback."""

from __future__ import annotations

import re

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relevance.io.html import parse_html
from relevance.io.page import Page, PageParseError
from relevance.io.pages import page_feed
from relevance.io.schema import check_feed

#: A tag the generator writes. Not any "<" before a letter: an escaped "&lt;" next to a word
#: ("&lt; river", "&lt;flood") is page text, rightly kept as "< river".
_TAG = re.compile(
    r"<\s*/?(?:div|p|h2|h3|ul|li|span|section|aside|nav|article|strong|a|footer|table|td"
    r"|html|head|title|body|!doctype)(?=[\s>/])",
    re.IGNORECASE,
)
SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def _outcome(data: bytes | str) -> Page | None:
    try:
        page = parse_html(data, "fuzz.html")
    except PageParseError as err:
        assert str(err).startswith("fuzz.html")
        return None
    assert isinstance(page, Page) and page.items
    feed = page_feed(page, "fuzz", "fuzz.html")  # what the reader validates, and parse writes
    check = check_feed(feed, "fuzz.html", "-")
    assert check.feed.feed_id == "fuzz"
    return page


@SETTINGS
@given(st.binary(max_size=3000))
def test_arbitrary_bytes(data: bytes) -> None:
    _outcome(data)


@SETTINGS
@given(st.binary(max_size=1500))
def test_arbitrary_bytes_after_a_doctype(data: bytes) -> None:
    _outcome(b"<!DOCTYPE html><html><body><h2>Related</h2>" + data)


WORDS = st.sampled_from(
    ["river", "flood", "Related", "Most read", "Sponsored", "READ MORE:", "More in Sport",
     "the", "levee", "storm", "2024", "&amp;", "&lt;", "é", "\u200b", "Top stories", "Share"]
)  # fmt: skip
TEXT = st.lists(WORDS, min_size=0, max_size=12).map(" ".join)
TAGS = st.sampled_from(["div", "p", "h2", "h3", "ul", "li", "span", "section", "aside", "nav",
                        "article", "strong", "a", "footer", "table", "td"])  # fmt: skip
ATTRS = st.sampled_from(
    ["", ' class="related"', ' class="nav"', ' id="most-read"', ' class="ad-slot"',
     ' aria-label="Recommended"', ' href="/2024/05/01/a-story-here"', ' href="#most-read"',
     ' href="https://paid.outbrain.com/x"', ' href="javascript:void(0)"', ' role="tablist"']
)  # fmt: skip


@st.composite
def markup(draw, depth: int = 0) -> str:
    tag, attrs = draw(TAGS), draw(ATTRS)
    if depth >= 3:
        return f"<{tag}{attrs}>{draw(TEXT)}</{tag}>"
    children = draw(st.lists(st.one_of(TEXT, markup(depth + 1)), max_size=4))
    closed = draw(st.booleans())  # unclosed tags too: lxml must repair them
    return f"<{tag}{attrs}>" + "".join(children) + (f"</{tag}>" if closed else "")


@SETTINGS
@given(st.lists(markup(), min_size=1, max_size=6), TEXT)
def test_random_markup_is_a_page_or_a_clear_error(blocks: list[str], title: str) -> None:
    html = f"<html><head><title>{title}</title></head><body>{''.join(blocks)}</body></html>"
    page = _outcome(html)
    if page is not None:  # never a feed of markup
        texts = [
            page.title,
            page.body,
            *(i.title for i in page.items),
            *(i.blurb for i in page.items),
        ]
        assert not any(_TAG.search(t) for t in texts)
