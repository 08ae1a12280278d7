"""The bad-input cases, one or more per row of README's table (builders: bad_inputs.py)."""

from __future__ import annotations

from bad_inputs import (
    DELETE,
    ITEMS,
    PAGE,
    Case,
    blank_lines,
    cell,
    csv_bad_quote,
    csv_extra_field,
    csv_not_utf8,
    csv_unclosed_quote,
    duplicate_feed,
    duplicate_feed_across_files,
    empty_file,
    empty_table,
    feed_case,
    line_case,
    missing_column,
    not_contiguous,
    not_gzip,
    page,
    page_feed,
    parquet_not_utf8,
    rows_case,
    set_field,
    truncated_gzip,
    wrong_parquet_type,
)

_PAGE_ITEMS = "• River flood warning\n  Rain and water rise.\n• <b></b>\n• Stocks fall\n"
PAGE_CASES = [
    Case(
        "page-no-items",
        "a feed with no items",
        page(PAGE.encode(), "feed", None, "Recommended Stories", "at least one recommended item"),
    ),
    Case(
        "page-bad-date",
        "malformed page",
        page(b"date 2022-13-45 Title\nbody\n", "feed", 1, "<page>", "bad date"),
    ),
    Case(
        "page-bullet-without-title",
        "malformed page",
        page((PAGE + "\u2022\n").encode(), "feed", 4, "<page>", "expected an item title"),
    ),
    Case(
        "page-empty-item",
        "empty title and summary",
        page(
            (PAGE + _PAGE_ITEMS).encode(),
            "item",
            6,
            "items.2",
            "non-empty title or summary",
            [page_feed("bad", [ITEMS[0], ("3", "Stocks fall", "")])],
        ),
    ),
    Case(
        "page-not-utf8",
        "bytes that are not UTF-8",
        page(PAGE.encode() + b"\xe9t\xe9\n", "feed", 4, "<page>", r"bad\.txt:4: byte offset 84"),
    ),
    Case(
        "page-empty-file", "an empty file", page(b"", "file", None, "<file>", "the file is empty")
    ),
    Case(
        "page-blank",
        "an empty file",
        page(b"  \n\t\n", "file", None, "<file>", "a non-empty page"),
    ),
]


# -- the cases ---------------------------------------------------------------------------

BAD_TEXT = "<p> &nbsp; </p>"
CASES = [
    Case(
        "malformed-json",
        "malformed JSON",
        line_case('{"feed_id": "x", "items": [', "<json>", "valid JSON"),
    ),
    Case(
        "nan-json",
        "NaN or None",
        line_case(
            '{"feed_id": "n", "article": {"title": NaN}, "items": []}', "<json>", "NaN is not JSON"
        ),
    ),
    Case("not-an-object", "wrong types", line_case("[1, 2]", "<record>", "a JSON object")),
    Case(
        "wrong-type-feed",
        "wrong types",
        feed_case(set_field("article", "text"), "feed", "article", "field 'article'"),
    ),
    Case(
        "wrong-type-item",
        "wrong types",
        feed_case(
            set_field("items.1.title", 5), "item", "items.1.title", "expected a string", (1,)
        ),
    ),
    Case(
        "missing-feed-id",
        "missing required fields",
        feed_case(set_field("feed_id", DELETE), "feed", "feed_id", "required"),
    ),
    Case(
        "missing-item-id",
        "missing required fields",
        feed_case(set_field("items.2.id", DELETE), "item", "items.2.id", "required", (2,)),
    ),
    Case(
        "null-item-id",
        "NaN or None",
        feed_case(set_field("items.0.id", None), "item", "items.0.id", "a string", (0,)),
    ),
    Case(
        "empty-item-text",
        "empty title and summary",
        feed_case(
            lambda f: f["items"][2].update(title=BAD_TEXT, summary=None),
            "item",
            "items.2",
            "non-empty title or summary",
            (2,),
        ),
    ),
    Case(
        "empty-article",
        "empty title and summary",
        feed_case(
            set_field("article", {"title": "&nbsp;", "body": "<br/>"}),
            "feed",
            "article",
            "non-empty article",
        ),
    ),
    Case(
        "no-items",
        "a feed with no items",
        feed_case(set_field("items", []), "feed", "items", "at least one item"),
    ),
    Case(
        "duplicate-item-id",
        "duplicate item ids",
        feed_case(
            lambda f: f["items"][3].update(id=f["items"][0]["id"]),
            "feed",
            "items.id",
            "unique within a feed",
        ),
    ),
    Case(
        "bad-label",
        "wrong types",
        feed_case(set_field("items.0.label", 2), "item", "items.0.label", "label", (0,)),
    ),
    Case(
        "not-utf8-jsonl",
        "bytes that are not UTF-8",
        line_case(
            b'{"feed_id": "caf\xe9"}',
            "<bytes>",
            r"in\.jsonl:2: .*UTF-8 text \(bad byte at column 17\)",
        ),
    ),
    Case("duplicate-feed-id", "duplicate feed ids", duplicate_feed),
    Case("duplicate-feed-id-files", "duplicate feed ids", duplicate_feed_across_files),
    Case("empty-file", "an empty file", empty_file),
    Case("not-gzip", "an unreadable file", not_gzip),
    Case("blank-lines-file", "an empty file", blank_lines),
    Case("csv-extra-field", "malformed CSV", csv_extra_field),
    Case("csv-bad-quote", "malformed CSV", csv_bad_quote),
    Case("csv-unclosed-quote", "malformed CSV", csv_unclosed_quote),
    Case("not-utf8-csv", "bytes that are not UTF-8", csv_not_utf8),
    Case("not-utf8-parquet", "bytes that are not UTF-8", parquet_not_utf8),
    Case("wrong-type-parquet", "wrong types", wrong_parquet_type),
    Case("empty-file-csv", "an empty file", empty_table(".csv", False)),
    Case("header-only-csv", "an empty file", empty_table(".csv", True)),
    Case("empty-parquet", "an empty file", empty_table(".parquet", True)),
]
for _sfx in (".csv", ".parquet"):
    _n = _sfx[1:]
    CASES += [
        Case(f"missing-column-{_n}", "missing required fields", missing_column(_sfx)),
        Case(
            f"empty-item-id-{_n}",
            "missing required fields",
            rows_case(
                _sfx, cell(5, "item_id", ""), "item", [5], "item_id", "non-empty string", (1,)
            ),
        ),
        Case(
            f"null-feed-id-{_n}",
            "NaN or None",
            rows_case(
                _sfx, cell(6, "feed_id", None), "item", [6], "feed_id", "non-empty string", (2,)
            ),
        ),
        Case(
            f"empty-item-text-{_n}",
            "empty title and summary",
            rows_case(
                _sfx,
                lambda t: t.assign(
                    item_title=[BAD_TEXT if i == 4 else v for i, v in enumerate(t["item_title"])],
                    item_summary=["" if i == 4 else v for i, v in enumerate(t["item_summary"])],
                ),
                "item",
                [4],
                "item_title",
                "non-empty item_title",
                (0,),
            ),
        ),
        Case(
            f"empty-article-{_n}",
            "empty title and summary",
            rows_case(
                _sfx,
                lambda t: t.assign(
                    article_title=[
                        "" if 4 <= i < 8 else v for i, v in enumerate(t["article_title"])
                    ],
                    article_body=[
                        "<br>" if 4 <= i < 8 else v for i, v in enumerate(t["article_body"])
                    ],
                ),
                "feed",
                [4, 5, 6, 7],
                "article_title",
                "non-empty article",
            ),
        ),
        Case(
            f"article-differs-{_n}",
            "a feed's rows disagree",
            rows_case(
                _sfx,
                cell(6, "article_body", "Another article."),
                "feed",
                [4, 5, 6, 7],
                "article_body",
                "the same article_body",
            ),
        ),
        Case(
            f"duplicate-item-id-{_n}",
            "duplicate item ids",
            rows_case(
                _sfx,
                lambda t: cell(7, "item_id", t.at[4, "item_id"])(t),
                "feed",
                [4, 5, 6, 7],
                "item_id",
                "unique within a feed",
            ),
        ),
        Case(
            f"bad-label-{_n}",
            "wrong types",
            rows_case(_sfx, cell(5, "label", "yes"), "item", [5], "label", "0 or 1", (1,)),
        ),
        Case(f"not-contiguous-{_n}", "duplicate feed ids", not_contiguous(_sfx)),
    ]
CASES += PAGE_CASES
ERROR_ONLY = [Case("truncated-gzip", "an unreadable file", truncated_gzip)]
