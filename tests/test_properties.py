"""Property-based tests: no input crashes the parsers with anything but the documented errors."""

import json

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relevance.io.page import Page, PageParseError, parse_page
from relevance.io.schema import Feed, InputError, validate_feed
from relevance.io.text import clean_text

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


def _outcome(record, fast):
    from relevance.io.schema import check_feed

    try:
        check = check_feed(record, "f.jsonl", "1", fast=fast)
    except InputError as exc:
        return str(exc)
    f = check.feed
    items = [(i.id, i.title, i.summary, i.label) for i in f.items]
    return f.feed_id, f.article.title, f.article.body, items, [str(e) for _, e in check.problems]


def _nearly_valid():
    """Records that are mostly right, so the fast path is taken often (and just missed)."""
    text = st.text(alphabet=st.sampled_from("abcd <>p&;\x00"), max_size=5) | st.none()
    item = st.fixed_dictionaries(
        {"id": st.sampled_from("abcdefgh "), "title": text, "summary": text},
        optional={"label": st.sampled_from([0, 1, None, 0, 1, True, 2]), "x": JSON_SCALARS},
    )
    article = st.fixed_dictionaries({"title": text, "body": text})
    return st.fixed_dictionaries(
        {
            "feed_id": st.sampled_from(["f", "g", " "]),
            "article": article,
            "items": st.lists(item, min_size=1, max_size=2),
        }
    )


@settings(max_examples=600, deadline=None)
@given(st.one_of(_feedlike(), _nearly_valid(), JSON_VALUES))
def test_the_fast_record_check_agrees_with_the_full_one(record):
    assert _outcome(record, fast=True) == _outcome(record, fast=False)


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


# -- whole readers, on any bytes: the documented errors only, and both modes agree --------

FEED = {
    "feed_id": "f",
    "article": {"title": "River flood", "body": "Rain &amp; water <b>rise</b>."},
    "items": [{"id": "a", "title": "Flood", "summary": ""}, {"id": "b", "title": "Vote"}],
}
JSONL_LINES = st.lists(
    st.one_of(
        st.builds(lambda n: json.dumps({**FEED, "feed_id": f"f{n}"}), st.integers(0, 5)),
        st.builds(json.dumps, _feedlike()),
        st.text(max_size=30).map(lambda s: s.replace("\n", " ").replace("\r", " ")),
        st.binary(max_size=20).filter(lambda b: b"\n" not in b and b"\r" not in b),
        st.just(""),
    ),
    max_size=12,
)


def _read(path, on_error: str):
    """(rows with their unit, rejects) through the streaming readers, or the InputError."""
    from relevance.io.rejects import Rejects
    from relevance.io.streams import Reading, iter_blocks, sources

    rejects = Rejects(on_error)
    try:
        blocks = list(iter_blocks(sources([path], on_error=on_error), Reading(rejects)))
    except (InputError, PageParseError) as exc:
        return exc
    rows = [r for b in blocks for r in b[["feed_id", "item_id", "_unit"]].itertuples(index=False)]
    return rows, rejects.kept


def _modes_agree(path) -> list[dict]:
    """Skip mode never raises; error mode stops at skip mode's first reject, else agrees."""
    skipped = _read(path, "skip")
    assert not isinstance(skipped, Exception), skipped
    rows, rejects = skipped
    strict = _read(path, "error")
    if rejects:
        assert isinstance(strict, InputError | PageParseError)
        first = rejects[0]
        assert str(strict) == first["reason"] or first["level"] == "feed"
        assert str(strict).startswith(str(path))
    else:
        assert strict == (rows, [])
    return rejects


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(JSONL_LINES)
def test_jsonl_reader_accounts_for_every_line(lines):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.jsonl"
        raw = [x if isinstance(x, bytes) else x.encode("utf-8", "surrogatepass") for x in lines]
        path.write_bytes(b"".join(x + b"\n" for x in raw))
        rejects = _modes_agree(path)
        rows, _ = _read(path, "skip")
        numbered = [n for n, x in enumerate(raw, start=1) if x.strip()]
        scored = {numbered[u - 1] for _, _, u in rows}
        set_aside = {r["line"] for r in rejects if r["level"] != "file"}
        assert scored | set_aside == set(numbered)  # every line scored or set aside, with why
        whole = {r["line"] for r in rejects if r["level"] == "feed"}
        assert not scored & whole
        ids = [f for f, _, _ in rows]
        assert len(set(ids)) == len({(f, u) for f, _, u in rows})  # a feed id once


CSV_CELLS = st.one_of(
    st.sampled_from(["f1", "f2", "x", "", "0", "1", "2", '"q"', "a,b", "<b>t</b>", "l\nm"]),
    st.text(max_size=8),
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.lists(CSV_CELLS, min_size=5, max_size=8), max_size=8),
    st.binary(max_size=12),
    st.booleans(),
)
def test_csv_reader_sets_aside_only_bad_rows(rows, junk, with_junk):
    import csv
    import io
    import tempfile
    from pathlib import Path

    header = ["feed_id", "article_title", "article_body", "item_id", "item_title", "item_summary"]
    text = io.StringIO()
    writer = csv.writer(text, lineterminator="\n")
    writer.writerow([*header, "label"])
    for row in rows:
        writer.writerow(row)
    data = text.getvalue().encode("utf-8", "surrogatepass") + (junk if with_junk else b"")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_bytes(data)
        rejects = _modes_agree(path)
        for r in rejects:
            assert r["level"] in ("item", "feed", "file") and r["reason"].startswith(str(path))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(PAGE_LINES, st.binary(max_size=8))
def test_page_files_of_any_bytes(lines, junk):
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "page.txt"
        path.write_bytes("\n".join(lines).encode("utf-8", "surrogatepass") + junk)
        rejects = _modes_agree(path)
        assert all(r["file"] == str(path) for r in rejects)
