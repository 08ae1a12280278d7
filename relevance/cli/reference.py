"""docs/cli.md, written from the parser itself, so the CLI reference never drifts from it.

    python -m relevance.cli.reference > docs/cli.md

(a test checks that docs/cli.md is what this prints).
"""

from __future__ import annotations

import argparse
import sys
from functools import partial

from relevance.cli.main import build_parser
from relevance.cli.options import HELP_FORMAT

WIDTH = 96


def render() -> str:
    parser = build_parser()
    parts = [
        "# Command-line reference",
        "",
        "Generated from the parser (`python -m relevance.cli.reference > docs/cli.md`); the same"
        " text as `relevance [COMMAND] --help`.",
        "",
    ]
    subparsers = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    commands = [("relevance", parser)] + [
        (f"relevance {name}", sub) for name, sub in subparsers.choices.items()
    ]
    for title, p in commands:
        p.formatter_class = partial(HELP_FORMAT, width=WIDTH)
        parts += [f"## `{title}`", "", "```text", p.format_help().rstrip(), "```", ""]
    return "\n".join(parts)


if __name__ == "__main__":
    sys.stdout.write(render())
