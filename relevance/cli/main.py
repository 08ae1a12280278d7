"""The ``relevance`` command: each subcommand parses its flags and calls one library function."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from relevance.batch.outputs import OUTPUT_FORMATS
from relevance.io import formats

DEFAULT_MODEL_DIR = Path(__file__).resolve().parents[2] / "models" / "default"


def default_model_dir() -> Path:
    """``$RELEVANCE_MODEL`` if set, else the model shipped in the repository."""
    return Path(os.environ.get("RELEVANCE_MODEL", DEFAULT_MODEL_DIR))


def _score(args: argparse.Namespace) -> int:
    from relevance.batch.outputs import OutputError, ResumeError
    from relevance.batch.sinks import check_output
    from relevance.cli.progress import TqdmProgress

    if args.out is not None:
        check_output(args.out)  # before loading anything: an unwritable --out fails at once
    bars = None if args.no_progress else TqdmProgress()
    common = {
        "out": args.out,
        "fmt": args.format,
        "input_format": args.input_format,
        "feeds_per_chunk": args.feeds_per_chunk,
        "progress": bars,
    }
    try:
        if args.engine == "ray":
            from relevance.batch.ray_engine import score_ray

            if args.resume:
                raise ResumeError("--resume works with --engine local only")
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
        if bars is not None:
            bars.close()  # a run that stopped early leaves no half-drawn bar
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


def _train(args: argparse.Namespace) -> int:
    from relevance.train.compare import PromotionRefused
    from relevance.train.pipeline import train

    objective, floor = "f1", {}
    if args.min_precision is not None:
        objective, floor = "min_precision", {"min_precision": args.min_precision}
    elif args.min_recall is not None:
        objective, floor = "min_recall", {"min_recall": args.min_recall}
    if args.compare is not None and not args.eval:
        print("relevance train: error: --compare needs --eval DATA", file=sys.stderr)
        return 2
    try:
        model = train(
            args.data,
            args.out,
            meta=args.meta,
            group_by=args.group_by,
            eval_data=args.eval,
            finetune=args.finetune_embedder,
            compare=args.compare,
            promote_model=args.promote,
            cache_dir=args.cache_dir,
            use_cache=not args.no_cache,
            C=args.C,
            n_splits=args.folds,
            objective=objective,
            random_state=args.seed,
            **floor,
        )
    except PromotionRefused as exc:
        print(f"relevance train: {exc}", file=sys.stderr)
        return 3
    m = model.report_.metrics
    base = m["oof_baseline_average_precision"]
    ap_ci = m["oof"]["ci95"]["average_precision"]
    print(
        f"saved {args.out}: out-of-fold average precision {m['oof_average_precision']:.4f} "
        f"(95% CI {ap_ci[0]:.4f}-{ap_ci[1]:.4f}; cosine {base['cosine']:.4f}, "
        f"tfidf {base['tfidf']:.4f}, logreg on both {base['logreg_cosine_tfidf']:.4f}); "
        f"threshold {model.threshold_:.4f} ({objective}: precision {m['oof_precision']:.3f}, "
        f"recall {m['oof_recall']:.3f}, F1 {m['oof_f1']:.3f}); "
        f"calibration {model.calibrator_.method}"
    )
    config, info = model.train_info_["config"], model.train_info_
    heldout = (config.get("finetune") or {}).get("heldout")
    if heldout:
        from relevance.train.finetune import heldout_summary

        print(f"fine-tuning on held-out stories: {heldout_summary(heldout)}")
    if config.get("evaluation"):
        ev = config["evaluation"]
        lo, hi = ev["ci95"]["average_precision"]
        print(
            f"--eval: average precision {ev['metrics']['average_precision']:.4f} "
            f"(95% CI {lo:.4f}-{hi:.4f}), F1 {ev['metrics']['f1']:.3f} at the threshold"
        )
    if info.get("comparison"):
        print(info["comparison"])
    if info.get("promotion"):
        print(info["promotion"])
    elif args.compare is not None:
        print(f"{args.compare} left unchanged (pass --promote to replace it when not worse)")
    return 0


def _evaluate(args: argparse.Namespace) -> int:
    from relevance.cli.progress import TqdmProgress
    from relevance.eval.evaluation import evaluate
    from relevance.eval.report import write_report  # needs the report extra: fail first
    from relevance.io.files import sha256_files
    from relevance.io.reader import read_inputs
    from relevance.persistence.artifacts import load_model

    model = load_model(args.model)
    compare = load_model(args.compare) if args.compare else None
    frame = read_inputs(args.data)
    result = evaluate(
        frame,
        model,
        compare=compare,
        meta=args.meta,
        slice_by=args.slice_by,
        n_resamples=args.bootstrap,
        seed=args.seed,
        data_sha256=sha256_files(args.data),
        labels={"model": str(args.model), "compare": str(args.compare)},
        progress=TqdmProgress(disable=None, delay=1.0),  # a terminal only, after 1 s
    )
    paths = write_report(result, args.out)
    m = result.metrics["systems"]["model"]
    lo, hi = m["ci95"]["average_precision"]
    print(
        f"wrote {', '.join(str(p) for p in paths.values())}: average precision "
        f"{m['average_precision']:.4f} [{lo:.4f}, {hi:.4f}], F1 {m['f1']:.3f} at threshold "
        f"{m['threshold']:.3f}"
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
        choices=formats.names(),
        default=None,
        help="force the input format instead of detecting it",
    )
    score.add_argument(
        "--backend",
        choices=["torch", "onnx-int8"],
        default=None,
        help="embedding backend (default: the model's own); onnx-int8 is faster and needs "
        "a head fitted for it (relevance add-backend)",
    )
    score.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="embedding cache folder (default: $XDG_CACHE_HOME/relevance)",
    )
    score.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
    score.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    score.add_argument(
        "--resume", action="store_true", help="continue an interrupted run into the same --out"
    )
    score.add_argument(
        "--on-error",
        choices=["error", "skip"],
        default="error",
        help="error: stop at the first bad record (exit 2); skip: set bad records aside in "
        "OUT.rejects.jsonl and score the rest",
    )
    score.add_argument(
        "--feeds-per-chunk",
        type=int,
        default=256,
        help="feeds read, embedded and written together (memory against speed)",
    )
    score.add_argument("--engine", choices=["local", "ray"], default="local")
    score.add_argument(
        "--ray-address",
        default=None,
        help="Ray cluster to use (auto, ray://HOST:10001); default: start a local Ray",
    )
    score.add_argument("--ray-actors", type=int, default=1, help="scoring actors (model copies)")
    score.add_argument(
        "--ray-cpus-per-actor", type=float, default=1.0, help="CPUs (threads) each actor reserves"
    )
    score.set_defaults(func=_score)
    from relevance.cli.add_backend import register_cli

    register_cli(sub)  # the add-backend subcommand

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
    goal.add_argument(
        "--min-precision", type=float, default=None, help="highest recall at this precision"
    )
    goal.add_argument(
        "--min-recall", type=float, default=None, help="highest precision at this recall"
    )
    train.add_argument("--folds", type=int, default=5)
    train.add_argument("--C", type=float, default=1.0, help="inverse L2 strength of the head")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument(
        "--finetune-embedder",
        action="store_true",
        help="fine-tune MiniLM on (article, relevant item) pairs; stored in DIR/embedder",
    )
    train.add_argument(
        "--eval", nargs="+", type=Path, default=None, help="labelled feeds to evaluate on"
    )
    train.add_argument(
        "--compare", type=Path, default=None, help="model folder to compare with on --eval"
    )
    train.add_argument(
        "--promote",
        action="store_true",
        help="replace the --compare folder with the new model when it is not worse",
    )
    train.add_argument(
        "--cache-dir",
        type=Path,
        default=None,
        help="embedding cache folder (default: $XDG_CACHE_HOME/relevance)",
    )
    train.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
    train.set_defaults(func=_train)

    ev = sub.add_parser("evaluate", help="measure a model against baselines on labelled feeds")
    ev.add_argument("data", nargs="+", type=Path, help="labelled feeds (.jsonl, .csv, .parquet)")
    ev.add_argument("--model", type=Path, default=default_model_dir(), help="model folder")
    ev.add_argument("--compare", type=Path, default=None, help="a second model folder")
    ev.add_argument("--meta", type=Path, default=None, help="JSONL with a record per feed_id")
    ev.add_argument(
        "--slice-by",
        default=None,
        help="a data column, a dotted meta field (anchor.category) or an item field (relation)",
    )
    ev.add_argument("--bootstrap", type=int, default=1000, help="resamples of whole feeds")
    ev.add_argument("--seed", type=int, default=0)
    ev.add_argument("--out", type=Path, required=True, help="folder for the three reports")
    ev.set_defaults(func=_evaluate)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run a subcommand; bad input, models or outputs exit 2 and Ctrl-C 130, never a traceback."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # this process never downloads weights
    args = build_parser().parse_args(argv)
    from relevance.batch.outputs import OutputError
    from relevance.batch.rejects import RejectsError
    from relevance.embed.cache import CacheError
    from relevance.extras import MissingExtra
    from relevance.io.errors import InputError
    from relevance.io.page import PageParseError
    from relevance.model.threshold import ObjectiveNotMet
    from relevance.persistence.folder import ModelLoadError

    log = logging.getLogger("relevance")  # the library's warnings and steps, on stderr
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(f"relevance {args.command}: %(message)s"))
    log.addHandler(handler)
    level, log.level = log.level, logging.INFO
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


if __name__ == "__main__":
    sys.exit(main())
