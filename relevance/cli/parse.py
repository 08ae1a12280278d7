"""``relevance parse``: pages (text or HTML) to feeds JSONL, to check what was extracted."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relevance.io import formats


def register_cli(sub: argparse._SubParsersAction) -> None:
    """The ``parse`` subcommand."""
    p = sub.add_parser(
        "parse",
        help="extract the article and recommended stories of pages (.txt, .html) as feeds JSONL",
    )
    p.add_argument("inputs", nargs="+", type=Path, help="pages: text (.txt) or HTML (.html)")
    p.add_argument("--out", type=Path, default=None, help="feeds JSONL to write (default: stdout)")
    p.add_argument(
        "--input-format",
        choices=[f for f in formats.names() if f in ("page", "html")],
        default=None,
        help="force the page format instead of detecting it",
    )
    p.add_argument(
        "--on-error",
        choices=["error", "skip"],
        default="error",
        help="error: stop at the first bad page (exit 2); skip: leave it out and say why",
    )
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from relevance.io.parsing import parse_pages

    summary = parse_pages(
        args.inputs, args.out, input_format=args.input_format, on_error=args.on_error
    )
    for reason in summary.skipped:
        print(f"relevance parse: skipped {reason}", file=sys.stderr)
    if args.out is not None:
        print(
            f"wrote {summary.pages} feeds ({summary.items} items) to {args.out}"
            + (f"; skipped {len(summary.skipped)} pages" if summary.skipped else ""),
            file=sys.stderr,
        )
    return 0
