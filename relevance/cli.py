"""The ``relevance`` command: each subcommand parses its flags and calls one library function."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from relevance.inputs import FORMATS
from relevance.outputs import OUTPUT_FORMATS

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[1] / "models" / "default"


def default_model_dir() -> Path:
    """``$RELEVANCE_MODEL`` if set, else the model shipped in the repository."""
    return Path(os.environ.get("RELEVANCE_MODEL", DEFAULT_MODEL_DIR))


def _score(args: argparse.Namespace) -> int:
    from relevance.artifacts import load_model
    from relevance.inputs import read_inputs
    from relevance.outputs import format_for, write_scores

    fmt = format_for(args.out, args.format)
    model = load_model(args.model)
    frame = read_inputs(args.inputs, args.input_format)
    write_scores(model.score(frame), args.out, fmt)
    return 0


def _train(args: argparse.Namespace) -> int:
    from training.pipeline import train

    objective, floor = "f1", {}
    if args.min_precision is not None:
        objective, floor = "min_precision", {"min_precision": args.min_precision}
    elif args.min_recall is not None:
        objective, floor = "min_recall", {"min_recall": args.min_recall}
    model = train(
        args.data,
        args.out,
        meta=args.meta,
        group_by=args.group_by,
        C=args.C,
        n_splits=args.folds,
        objective=objective,
        random_state=args.seed,
        **floor,
    )
    m = model.report_.metrics
    base = m["oof_baseline_average_precision"]
    print(
        f"saved {args.out}: out-of-fold average precision {m['oof_average_precision']:.4f} "
        f"(cosine {base['cosine']:.4f}, tfidf {base['tfidf']:.4f}, "
        f"logreg on both {base['logreg_cosine_tfidf']:.4f}); "
        f"threshold {model.threshold_:.4f} ({objective}: precision {m['oof_precision']:.3f}, "
        f"recall {m['oof_recall']:.3f}, F1 {m['oof_f1']:.3f})"
    )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relevance", description="Score recommended stories against their main article."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="score pages or feed files with a model")
    score.add_argument(
        "inputs", nargs="+", help="scraped page (.txt) or feeds (.jsonl, .csv, .parquet)"
    )
    score.add_argument("--model", type=Path, default=default_model_dir(), help="model folder")
    score.add_argument("--out", type=Path, default=None, help="output file (default: stdout)")
    score.add_argument(
        "--format",
        choices=OUTPUT_FORMATS,
        default=None,
        help="output format (default: table to a terminal, else from --out's suffix)",
    )
    score.add_argument(
        "--input-format",
        choices=FORMATS,
        default=None,
        help="force the input format instead of detecting it",
    )
    score.set_defaults(func=_score)

    train = sub.add_parser("train", help="fit a model from labelled feeds")
    train.add_argument("data", nargs="+", type=Path, help="labelled feeds (.jsonl, .csv, .parquet)")
    train.add_argument("--out", type=Path, required=True, help="model folder to write")
    train.add_argument("--meta", type=Path, default=None, help="JSONL with a record per feed_id")
    train.add_argument(
        "--group-by",
        default=None,
        help="fold groups: a data column or a dotted meta field, e.g. anchor.story",
    )
    goal = train.add_mutually_exclusive_group()
    goal.add_argument("--objective", choices=["f1"], default="f1")
    goal.add_argument("--min-precision", type=float, default=None)
    goal.add_argument("--min-recall", type=float, default=None)
    train.add_argument("--folds", type=int, default=5)
    train.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the head")
    train.add_argument("--seed", type=int, default=0)
    train.set_defaults(func=_train)
    return parser


def main(argv: list[str] | None = None) -> int:
    from relevance.artifacts import ModelLoadError
    from relevance.page import PageParseError
    from relevance.schema import InputError
    from relevance.threshold import ObjectiveNotMet

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (InputError, PageParseError, ModelLoadError, ObjectiveNotMet) as exc:
        print(f"relevance {args.command}: error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
