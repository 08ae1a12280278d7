"""Property-based tests: no input crashes the parsers with anything but the documented errors."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relevance.page import Page, PageParseError, parse_page
from relevance.schema import Feed, InputError, validate_feed
from relevance.text import clean_text

PAGE_LINES = st.lists(
    st.one_of(
        st.text(max_size=60),
        st.sampled_from(
            [
                "Recommended Stories",
                "  • Oops!",
                "    Something went wrong.",
                "In this article:",
                "·4 min read",
                "date 2022-01-21 A title",
                "date 2022-13-45 Bad date",
                "  • An item title",
                "Nato&#39;s &amp; <b>tags</b>",
                "",
                "\r",
            ]
        ),
    ),
    max_size=40,
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAGE_LINES)
def test_page_parser_never_crashes(lines):
    text = "\n".join(lines)
    try:
        page = parse_page(text, source="fuzz.txt")
    except PageParseError as exc:
        assert str(exc).startswith("fuzz.txt")
        return
    assert isinstance(page, Page)
    assert isinstance(page.title, str) and page.title.strip()
    for item in page.items:
        assert item.title.strip()


JSON_SCALARS = st.one_of(
    st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True), st.text(max_size=20)
)
JSON_VALUES = st.recursive(
    JSON_SCALARS,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def _feedlike():
    item = st.fixed_dictionaries(
        {},
        optional={
            "id": JSON_VALUES | st.text(max_size=8),
            "title": JSON_VALUES | st.text(max_size=30),
            "summary": JSON_VALUES | st.text(max_size=30),
            "label": JSON_VALUES | st.sampled_from([0, 1]),
        },
    )
    article = st.fixed_dictionaries(
        {}, optional={"title": st.text(max_size=30) | JSON_VALUES, "body": st.text(max_size=60)}
    )
    return st.fixed_dictionaries(
        {},
        optional={
            "feed_id": st.text(max_size=10) | JSON_VALUES,
            "article": article | JSON_VALUES,
            "items": st.lists(item, max_size=4) | JSON_VALUES,
        },
    )


@settings(max_examples=400, deadline=None)
@given(st.one_of(_feedlike(), JSON_VALUES))
def test_feed_schema_accepts_or_names_the_field(record):
    try:
        feed = validate_feed(record, "fuzz.jsonl", "7")
    except InputError as exc:
        assert str(exc).startswith("fuzz.jsonl:7: field ")
        assert exc.expected
        return
    assert isinstance(feed, Feed)
    assert feed.items and len({i.id for i in feed.items}) == len(feed.items)
    # what validated survives a JSON round trip unchanged
    again = validate_feed(json.loads(feed.model_dump_json()), "x", "1")
    assert again == feed


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_clean_text_has_no_controls_or_loose_space(text):
    once = clean_text(text)
    assert not any(ord(c) < 32 for c in once)
    assert once == once.strip() and "  " not in once
    if "&" not in text and "<" not in text:
        # without markup, cleaning twice changes nothing (escaped markup is unescaped once only)
        assert clean_text(once) == once
