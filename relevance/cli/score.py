"""``relevance score``: rank recommended items against their article, for people or machines."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relevance.batch.outputs import OUTPUT_FORMATS
from relevance.cli.options import (
    HELP_FORMAT,
    POSITIVE,
    POSITIVE_NUMBER,
    PROBABILITY,
    add_cache_options,
    paragraph,
    refuse_clobbering,
    refuse_repeats,
)
from relevance.io import formats

EXAMPLES = """examples:
  relevance score page.txt                         ranked table of a scraped page
  relevance score page.html                        a publisher's page, as saved from a browser
  relevance score feeds.jsonl.gz -o scores.parquet streaming, cached, resumable
  relevance score feeds.csv --level story --top-k 3 -o more_on_this_story.jsonl
  relevance score page.txt --explain               why each item scored as it did
"""


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "score",
        help="score pages or feed files with a model",
        description=paragraph(
            "Score every recommended item against its feed's main article: two "
            "calibrated probabilities (p_story, p_topic), keep/drop by the level's trained "
            "threshold, and the rank within the feed."
        ),
        epilog=EXAMPLES,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument(
        "inputs",
        nargs="+",
        help="pages (.html, .txt) or feeds (.jsonl[.gz], .csv[.gz], .parquet)",
    )
    p.add_argument(
        "--model", type=Path, default=None, help="model folder (default: the shipped model, or "
        "$RELEVANCE_MODEL)"
    )  # fmt: skip
    p.add_argument(
        "-o", "--output", "--out", dest="out", type=Path, default=None, metavar="FILE",
        help="output file; its suffix picks the format (.jsonl, .csv, .parquet, .txt; .gz "
        "compresses jsonl and csv). Default: stdout",
    )  # fmt: skip
    p.add_argument(
        "--format", choices=OUTPUT_FORMATS, default=None,
        help="output format (default: a table to stdout, else from the output's suffix)",
    )  # fmt: skip
    p.add_argument(
        "--input-format", choices=formats.names(), default=None,
        help="read every input as this format instead of detecting it",
    )  # fmt: skip
    p.add_argument(
        "--level", choices=["story", "topic"], default=None,
        help="which probability drives probability, relevant and rank: story (the same story) "
        "or topic (this story or a related one); default: the model's own (topic)",
    )  # fmt: skip
    p.add_argument(
        "--threshold", type=PROBABILITY, default=None,
        help="keep items at or above this probability instead of the level's trained threshold",
    )  # fmt: skip
    p.add_argument("--top-k", type=POSITIVE, default=None, help="keep at most K items per feed")
    p.add_argument(
        "--explain", action="store_true",
        help="add, per item, the article passage it matched best and the names or terms both "
        "share (columns passage, shared)",
    )  # fmt: skip
    p.add_argument(
        "--backend", choices=["torch", "onnx-int8"], default=None,
        help="embedding backend (default: the model's own); onnx-int8 is ~3x faster and needs "
        "a head fitted for it (relevance add-backend)",
    )  # fmt: skip
    add_cache_options(p)
    p.add_argument("--no-progress", action="store_true", help="no progress on stderr")
    p.add_argument(
        "--resume", action="store_true", help="continue an interrupted run into the same --output"
    )
    p.add_argument(
        "--on-error", choices=["error", "skip"], default="error",
        help="error: stop at the first bad record (exit 2); skip: set bad records aside in "
        "OUTPUT.rejects.jsonl and score the rest",
    )  # fmt: skip
    p.add_argument(
        "--feeds-per-chunk", type=POSITIVE, default=1024,
        help="feeds read, embedded and written together (memory against speed)",
    )  # fmt: skip
    p.add_argument(
        "--engine", choices=["local", "ray"], default="local",
        help="local: this process, streaming; ray: Ray Data actors (see docs/batch.md)",
    )  # fmt: skip
    p.add_argument(
        "--ray-address", default=None,
        help="Ray cluster to join (auto, ray://HOST:10001); default: start a private local Ray",
    )  # fmt: skip
    p.add_argument(
        "--ray-actors", type=POSITIVE, default=1, help="scoring actors (model copies) on Ray"
    )
    p.add_argument(
        "--ray-cpus-per-actor", type=POSITIVE_NUMBER, default=1.0,
        help="CPUs (threads) each Ray actor reserves",
    )  # fmt: skip
    p.set_defaults(func=run)


def _written(out: Path) -> list[Path]:
    """The output and every sidecar a run writes beside it: none may be an input."""
    from relevance.batch.rejects import rejects_path
    from relevance.batch.sinks import partial_path
    from relevance.batch.state import ids_path, state_path

    rejects = rejects_path(out)
    return [out, partial_path(out), state_path(out), ids_path(out), rejects, partial_path(rejects)]


def run(args: argparse.Namespace) -> int:
    from relevance.batch.outputs import OutputError
    from relevance.batch.sinks import check_output, output_format
    from relevance.cli.progress import make_progress

    refuse_repeats(args.inputs)
    if args.out is not None:
        from relevance.persistence.location import model_dir

        # nothing is written into the model's folder either (the default one included)
        refuse_clobbering("--out", _written(args.out), [*args.inputs, model_dir(args.model)])
        check_output(args.out)  # before loading anything: an unwritable output fails at once
    output_format(args.out, args.format)  # so does an unknown suffix
    progress = None if args.no_progress else make_progress()
    common = {
        "out": args.out,
        "fmt": args.format,
        "input_format": args.input_format,
        "feeds_per_chunk": args.feeds_per_chunk,
        "progress": progress,
        "level": args.level,
        "threshold": args.threshold,
        "top_k": args.top_k,
        "explain": args.explain,
    }
    try:
        if args.engine == "ray":
            from relevance.batch.ray_engine import score_ray

            if args.on_error != "error":
                raise OutputError("--on-error skip works with --engine local only")
            summary = score_ray(
                args.model,
                args.inputs,
                backend=args.backend,
                cache_dir=args.cache_dir,
                use_cache=not args.no_cache,
                address=args.ray_address,
                actors=args.ray_actors,
                cpus_per_actor=args.ray_cpus_per_actor,
                resume=args.resume,
                **common,
            )
        else:
            from relevance.batch import prepare_model, score_files

            model = prepare_model(args.model, args.backend, args.cache_dir, not args.no_cache)
            summary = score_files(
                model, args.inputs, resume=args.resume, on_error=args.on_error, **common
            )
    except OutputError as exc:
        print(f"relevance score: error: {exc}", file=sys.stderr)
        return 2
    finally:
        if progress is not None:
            progress.close()  # a run stopped early leaves no bar half drawn
    if summary.rejected is not None:  # always said: nothing bad passes silently
        r = summary.rejected
        print(
            f"relevance score: scored {summary.feeds_total} feeds ({summary.rows_total} items); "
            f"rejected {sum(r.values())} records ({r['file']} files, {r['feed']} feeds, "
            f"{r['item']} items), listed in {summary.rejects_file}",
            file=sys.stderr,
        )
    elif args.out is not None and not args.no_progress:
        rate = "" if summary.hit_rate is None else f", cache hit rate {summary.hit_rate:.0%}"
        print(
            f"scored {summary.feeds} feeds ({summary.rows} items) in {summary.seconds:.1f} s"
            f"{rate}; wrote {args.out}",
            file=sys.stderr,
        )
    return 0
