"""The ``relevance`` command: each subcommand parses its flags and calls one library function.

Subcommands live in their own modules (``relevance.cli.score``, ``parse``, ``train``,
``evaluate``, ``add_backend``, ``serve``); this one builds the parser and turns the library's
errors into exit statuses: 0 done, 1 an unusable embedding cache, 2 bad input, model, output or
option, 3 promotion refused, 130 interrupted.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys

# Submodules by their full names: importing them from the package (``from relevance.cli import
# score``) would make the package and this module import each other.
import relevance.cli.add_backend as add_backend
import relevance.cli.evaluate as evaluate
import relevance.cli.parse as parse
import relevance.cli.score as score
import relevance.cli.serve as serve
import relevance.cli.train as train
from relevance.cli.options import HELP_FORMAT, paragraph

EPILOG = """exit status: 0 done, 1 the embedding cache is unusable, 2 bad input, model folder,
output or option, 3 promotion refused (train --promote), 130 interrupted (Ctrl-C)

examples:
  relevance score data/seed/page.txt
  relevance score page.html
  relevance parse page.html -o feeds.jsonl
  relevance score feeds.jsonl.gz -o scores.parquet --level story
  relevance evaluate labelled.jsonl -o build/report
  relevance train labelled.jsonl --meta labelled.meta.jsonl --group-by anchor.story -o build/m
"""


class _Version(argparse.Action):
    """``--version``: the package and the default model it would use, read only when asked."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(
            option_strings, dest, nargs=0, help="print the version and the default model, exit"
        )

    def __call__(self, parser, namespace, values, option_string=None) -> None:  # noqa: ANN001
        print(version_text())
        parser.exit()


def version_text() -> str:
    from relevance import __version__
    from relevance.persistence.folder import ModelLoadError
    from relevance.persistence.location import default_model_dir, model_identity

    try:
        folder = default_model_dir()
        model = model_identity(folder)["id"]
        where = str(folder)
    except (ModelLoadError, OSError) as exc:
        model, where = "none", str(exc)
    return f"relevance {__version__}\ndefault model {model} ({where})"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relevance",
        description=paragraph(
            "Score the recommended stories under a news article: per item a "
            "calibrated probability of being the same story (p_story) and of being this or a "
            "related story (p_topic), keep or drop by a trained threshold, and a rank."
        ),
        epilog=EPILOG,
        formatter_class=HELP_FORMAT,
    )
    parser.add_argument("--version", action=_Version)
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    score.register_cli(sub)
    parse.register_cli(sub)
    evaluate.register_cli(sub)
    train.register_cli(sub)
    add_backend.register_cli(sub)
    serve.register_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; bad input, models or outputs exit 2 and Ctrl-C 130, never a traceback."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # this process never downloads weights
    args = build_parser().parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)  # recorded by evaluate
    from relevance.batch.outputs import OutputError
    from relevance.batch.rejects import RejectsError
    from relevance.embed.cache import CacheError
    from relevance.extras import MissingExtra
    from relevance.io.errors import InputError
    from relevance.io.page import PageParseError
    from relevance.model.levels import LevelError
    from relevance.model.threshold import ObjectiveNotMet
    from relevance.persistence.folder import ModelLoadError

    log = logging.getLogger("relevance")  # the library's warnings and steps, on stderr
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"relevance {args.command}: %(message)s"))
    log.addHandler(handler)
    level, log.level = log.level, logging.INFO
    extractor = logging.getLogger("trafilatura")  # its "discarding data" notes are not ours
    extractor_level, extractor.level = extractor.level, logging.ERROR
    try:
        return args.func(args)
    except (
        InputError,
        PageParseError,
        ModelLoadError,
        ObjectiveNotMet,
        OutputError,
        RejectsError,
        MissingExtra,
        LevelError,
        train.OptionError,
    ) as exc:
        print(f"relevance {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except CacheError as exc:
        print(f"relevance {args.command}: error: {exc} (or use --no-cache)", file=sys.stderr)
        return 1
    except KeyboardInterrupt as exc:
        detail = f"; {exc}" if str(exc) else ""
        print(f"\nrelevance {args.command}: interrupted{detail}", file=sys.stderr)
        return 130
    finally:
        log.removeHandler(handler)
        log.setLevel(level)
        extractor.setLevel(extractor_level)


if __name__ == "__main__":
    sys.exit(main())
