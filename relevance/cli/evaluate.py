"""``relevance evaluate``: the model, a compared model and baselines on labelled feeds."""

from __future__ import annotations

import argparse
from pathlib import Path

from relevance.cli.options import (
    HELP_FORMAT,
    NON_NEGATIVE,
    POSITIVE,
    add_cache_options,
    paragraph,
    refuse_clobbering,
    refuse_repeats,
)

EXAMPLES = """examples:
  relevance evaluate held_out.jsonl -o build/report
  relevance evaluate held_out.jsonl --compare models/frozen -o build/report
  relevance evaluate ecb.jsonl --meta ecb.meta.jsonl --slice-by relation -o build/report
"""


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "evaluate",
        help="measure a model against baselines on labelled feeds",
        description=paragraph(
            "Measure a model at each level the labels have (grade: story and topic; "
            "label: story), against a compared model and two baselines, with 95% intervals from "
            "resampling whole feeds. Writes metrics.json, report.md and report.html."
        ),
        epilog=EXAMPLES,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument(
        "data", nargs="+", type=Path, help="labelled feeds (.jsonl[.gz], .csv[.gz], .parquet)"
    )
    p.add_argument(
        "--model", type=Path, default=None, help="model folder (default: the shipped model)"
    )
    p.add_argument("--compare", type=Path, default=None, help="a second model folder")
    p.add_argument(
        "--meta", nargs="+", type=Path, default=None, help="JSONL files with a record per feed_id"
    )
    p.add_argument(
        "--slice-by", default=None,
        help="slices besides article length: a data column, a dotted meta field "
        "(anchor.category) or an item field of the meta records (relation)",
    )  # fmt: skip
    p.add_argument(
        "--level", choices=["story", "topic"], default=None,
        help="the headline level (both are measured when the data has grades)",
    )  # fmt: skip
    p.add_argument("--bootstrap", type=POSITIVE, default=1000, help="resamples of whole feeds")
    p.add_argument("--seed", type=NON_NEGATIVE, default=0, help="seed of the resampling")
    p.add_argument(
        "--on-error", choices=["error", "skip"], default="error",
        help="error: stop at the first bad record (exit 2); skip: leave bad records out and "
        "say how many",
    )  # fmt: skip
    add_cache_options(p)
    p.add_argument(
        "-o", "--output", "--out", dest="out", type=Path, required=True, metavar="DIR",
        help="folder for metrics.json, report.md and report.html",
    )  # fmt: skip
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import datetime
    import sys

    from relevance.cli.progress import make_progress
    from relevance.embed.cache import cached
    from relevance.embed.encoder import SentenceTransformerEmbedder
    from relevance.eval.evaluation import evaluate
    from relevance.eval.report import write_report  # needs the report extra: fail first
    from relevance.io.files import sha256_files
    from relevance.io.reader import read_inputs
    from relevance.io.rejects import Rejects
    from relevance.persistence.artifacts import load_model
    from relevance.persistence.location import model_dir

    refuse_repeats(args.data)
    written = [args.out / name for name in ("metrics.json", "report.md", "report.html")]
    # the model folder, the default one included: a report inside it would be an unlisted file
    folders = [p for p in (model_dir(args.model), args.compare) if p is not None]
    refuse_clobbering("--output", written, [*args.data, *(args.meta or []), *folders])
    cache = {"cache": not args.no_cache, "cache_dir": args.cache_dir}
    model = load_model(args.model, **cache)
    compare = load_model(args.compare, **cache) if args.compare else None
    rejects = Rejects(args.on_error)
    frame = read_inputs(args.data, rejects=rejects)
    frozen = SentenceTransformerEmbedder()  # loads its weights only if a text is not cached
    if not args.no_cache:
        frozen = cached(frozen, args.cache_dir)
    progress = make_progress(delay=1.0)
    try:
        result = evaluate(
            frame,
            model,
            compare=compare,
            meta=args.meta,
            slice_by=args.slice_by,
            n_resamples=args.bootstrap,
            seed=args.seed,
            data_sha256=sha256_files(args.data),
            labels={"model": str(args.model or "default"), "compare": str(args.compare)},
            level=args.level,
            frozen=frozen,
            run={
                "command": " ".join(["relevance", *getattr(args, "argv", sys.argv[1:])]),
                "created": datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds"),
                "rejected_records": len(rejects.kept) if args.on_error == "skip" else 0,
            },
            progress=progress,
        )
    finally:
        progress.close()
    paths = write_report(result, args.out)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    if args.on_error == "skip" and rejects.kept:
        print(f"relevance evaluate: left out {len(rejects.kept)} bad records", file=sys.stderr)
    for level, e in result.levels.items():
        m = e.metrics["systems"]["model"]
        lo, hi = m["ci95"]["average_precision"]
        print(
            f"  {level}: average precision {m['average_precision']:.4f} [{lo:.4f}, {hi:.4f}], "
            f"F1 {m['f1']:.3f} at threshold {m['threshold']:.3f}, ECE {m['ece']:.3f}"
        )
    sample = result.metrics["models"]["model"]["in_sample_feeds"]
    if sample.get("n_feeds"):
        print(
            f"  in-sample: {sample['n_feeds']} of {sample['n_feeds_total']} feeds were in the "
            "model's training data (see the reports)"
        )
    return 0
