"""``relevance parse``: pages (text or HTML) to the feeds JSONL they are scored as."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relevance.cli.options import HELP_FORMAT, paragraph
from relevance.io.formats import PAGE_FORMATS

EXAMPLES = """examples:
  relevance parse page.html                        the feed extracted from one page
  relevance parse pages/*.html -o feeds.jsonl      one feed per page, to check or to score
  relevance parse saved.txt --input-format html    HTML saved under another name
  relevance parse pages/* --on-error skip          leave out pages with no module, say why
"""


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "parse",
        help="extract the article and recommended stories of pages as feeds JSONL",
        description=paragraph(
            "Extract what scoring reads from pages: the main article (title, date, body) "
            "and every recommended item with its headline, blurb, link (href), the heading "
            "of its module and whether it links to the article itself (self_link). One feed "
            "per page; feed_id is the file name without its suffix, source the file. "
            "Sponsored and navigation links are listed under 'dropped', never as items."
        ),
        epilog=EXAMPLES,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument(
        "inputs", nargs="+", type=Path,
        help="pages: HTML (.html, .htm, or HTML by content) or scraped text (.txt)",
    )  # fmt: skip
    p.add_argument(
        "-o", "--output", "--out", dest="out", type=Path, default=None, metavar="FILE",
        help="feeds JSONL to write, replaced whole once every page is read. Default: stdout",
    )  # fmt: skip
    p.add_argument(
        "--input-format", choices=list(PAGE_FORMATS), default=None,
        help="read every input as this page format instead of detecting it",
    )  # fmt: skip
    p.add_argument(
        "--on-error", choices=["error", "skip"], default="error",
        help="error: stop at the first bad page (exit 2); skip: leave it out, say why on "
        "stderr and write the rest",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from relevance.io.parsing import parse_pages

    summary = parse_pages(
        args.inputs,
        args.out,
        input_format=args.input_format,
        on_error=args.on_error,
        write=lambda line: print(line),
    )
    for reason in summary.skipped:
        print(f"relevance parse: skipped {reason}", file=sys.stderr)
    if args.out is not None:
        skipped = f"; skipped {len(summary.skipped)} pages" if summary.skipped else ""
        print(
            f"wrote {summary.pages} feeds ({summary.items} items) to {args.out}{skipped}",
            file=sys.stderr,
        )
    return 0
