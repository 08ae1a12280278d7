"""Option values checked by argparse itself, so a bad one is exit 2 with a message, never a
traceback, and before any file is read or any model loaded."""

from __future__ import annotations

import argparse
import os
from collections.abc import Callable, Iterable
from pathlib import Path


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


class OptionError(ValueError):
    """A bad option value: exit 2 with the message, before any work."""


def _file_id(path: Path) -> tuple[int, int] | None:
    try:
        st = os.stat(path)
    except OSError:
        return None
    return st.st_dev, st.st_ino


def refuse_clobbering(
    flag: str, outputs: Iterable[Path], inputs: Iterable[Path], folder: Path | None = None
) -> None:
    """Refuse, before any work, an output that is one of the inputs.

    The same file is recognised however it is named: ``./in/../in/x.jsonl``, a symbolic
    link (resolved paths) or a hard link (the same device and inode). With ``folder`` (an
    output folder that is replaced whole, as ``train --out``), an input inside it counts.
    """
    inputs = [Path(p) for p in inputs]
    real = {os.path.realpath(p): p for p in inputs}
    ids = {_file_id(p): p for p in inputs if Path(p).is_file()}
    ids.pop(None, None)
    for out in outputs:
        hit = real.get(os.path.realpath(out)) or ids.get(_file_id(out))  # type: ignore[arg-type]
        if hit is not None:
            raise OptionError(
                f"{flag} {out}: is the input {hit} (the same file); writing it would destroy "
                "the input. Choose another output"
            )
        for inp in inputs:  # inside an input folder (of pages, or a model's closed folder)
            if Path(inp).is_dir() and _inside(out, inp):
                raise OptionError(
                    f"{flag} {out}: is inside the input folder {inp}; writing there would "
                    "change the input. Choose another output"
                )
    if folder is not None:
        for inp in inputs:
            if _inside(inp, folder):
                raise OptionError(
                    f"{flag} {folder}: holds the input {inp}, and the folder is replaced whole. "
                    "Choose another output folder"
                )


def _inside(path: Path, folder: Path) -> bool:
    return Path(os.path.realpath(path)).is_relative_to(os.path.realpath(folder))


def refuse_repeats(paths: Iterable[Path], what: str = "input") -> None:
    """The same file twice (by any name, hard links included) would count its feeds twice."""
    seen: dict[object, Path] = {}
    for path in paths:
        key = _file_id(path) or os.path.realpath(path)
        if key in seen:
            raise OptionError(
                f"{path}: the same {what} file as {seen[key]}; each feed once in the input "
                "(given twice, its feeds would count twice)"
            )
        seen[key] = path


def add_cache_options(p: argparse.ArgumentParser) -> None:
    """--cache-dir and --no-cache, worded alike wherever texts are embedded for scoring."""
    p.add_argument(
        "--cache-dir", type=Path, default=None,
        help="embedding cache folder (default: $XDG_CACHE_HOME/relevance)",
    )  # fmt: skip
    p.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
