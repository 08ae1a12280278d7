"""Option values checked by argparse itself, so a bad one is exit 2 with a message, never a
traceback, and before any file is read or any model loaded."""

from __future__ import annotations

import argparse
from collections.abc import Callable


class HELP_FORMAT(argparse.RawDescriptionHelpFormatter):  # noqa: N801 - a class used as a value
    """Help that shows every option's default, unless its text already says it."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if "default" in text.lower() or default in (None, False, argparse.SUPPRESS):
            return text
        if action.option_strings or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE):
            return f"{text} (default: %(default)s)"
        return text


def integer(minimum: int) -> Callable[[str], int]:
    """An integer >= ``minimum``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected an integer") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value}: expected an integer >= {minimum}")
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


def number(low: float, high: float | None = None, open_low: bool = False) -> Callable[[str], float]:
    """A finite number in [low, high] (or (low, high] with ``open_low``)."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r}: expected a number") from None
        too_low = value <= low if open_low else value < low
        if value != value or too_low or (high is not None and value > high):
            lo = "(" if open_low else "["
            hi = f"{high}]" if high is not None else "inf)"
            raise argparse.ArgumentTypeError(f"{text}: expected a number in {lo}{low}, {hi}")
        return value

    parse.__name__ = "number"
    return parse


def paragraph(text: str) -> str:
    """A description wrapped for ``--help`` (the formatter keeps the examples' own lines)."""
    import textwrap

    return textwrap.fill(text, 88)


POSITIVE = integer(1)
NON_NEGATIVE = integer(0)
PROBABILITY = number(0.0, 1.0)
POSITIVE_NUMBER = number(0.0, None, open_low=True)


def levels_of(choices: tuple[str, ...] = ("story", "topic")) -> dict:
    """The keyword arguments of a ``--level`` option."""
    return {"choices": list(choices), "default": None}
