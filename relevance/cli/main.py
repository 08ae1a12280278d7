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
        "level": args.level,
        "threshold": args.threshold,
        "top_k": args.top_k,
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


def _floors(values: list[str] | None, flag: str) -> float | dict | None:
    """``--min-precision 0.9`` (every level) or ``--min-precision story=0.9`` (repeatable)."""
    if not values:
        return None
    out: dict[str, float] = {}
    for value in values:
        level, sep, number = value.rpartition("=")
        try:
            share = float(number)
        except ValueError:
            share = float("nan")
        if not 0 < share <= 1 or (sep and level not in ("story", "topic")):
            raise _OptionError(
                f"{flag} {value!r}: expected P or LEVEL=P, P in (0, 1], LEVEL story or topic"
            )
        out[level or "*"] = share
    if "*" in out:
        if len(out) > 1:
            raise _OptionError(f"{flag}: give one value for every level, or one per level")
        return out["*"]
    return out


class _OptionError(ValueError):
    """A bad option value: exit 2 with the message, before any work."""


def _objectives(args: argparse.Namespace) -> dict:
    """The estimator's objective parameters from --min-precision / --min-recall."""
    precision = _floors(args.min_precision, "--min-precision")
    recall = _floors(args.min_recall, "--min-recall")
    both = precision is not None and recall is not None
    per_level = isinstance(precision, dict) and isinstance(recall, dict)
    if both and (not per_level or set(precision) & set(recall)):  # type: ignore[arg-type]
        raise _OptionError("--min-precision and --min-recall both set for one level")
    objective: str | dict = "f1"
    if isinstance(precision, float) or isinstance(recall, float):
        objective = "min_precision" if precision is not None else "min_recall"
    elif precision is not None or recall is not None:
        objective = {lv: "min_precision" for lv in precision or {}}
        objective |= {lv: "min_recall" for lv in recall or {}}
    return {"objective": objective, "min_precision": precision, "min_recall": recall}


def _train(args: argparse.Namespace) -> int:
    from relevance.train.compare import PromotionRefused
    from relevance.train.pipeline import train

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
            random_state=args.seed,
            **_objectives(args),
        )
    except PromotionRefused as exc:
        print(f"relevance train: {exc}", file=sys.stderr)
        return 3
    m = model.report_.metrics
    print(f"saved {args.out}: levels {', '.join(model.levels_)}")
    for level, s in m["levels"].items():
        base = s["oof_baseline_average_precision"]
        lo, hi = s["oof"]["ci95"]["average_precision"]
        print(
            f"  {level}: out-of-fold average precision {s['oof_average_precision']:.4f} "
            f"(95% CI {lo:.4f}-{hi:.4f}; cosine {base['cosine']:.4f}, tfidf {base['tfidf']:.4f}); "
            f"threshold {model.thresholds_[level]:.4f} (precision {s['oof_precision']:.3f}, "
            f"recall {s['oof_recall']:.3f}, F1 {s['oof_f1']:.3f}), ECE {s['oof_ece']:.3f}"
        )
    config, info = model.train_info_["config"], model.train_info_
    held = config.get("heldout") or {}
    for level, s in (held.get("levels") or {}).items():
        lo, hi = s["ci95"]["average_precision"]
        print(
            f"  {level}, held-out stories: average precision "
            f"{s['metrics']['average_precision']:.4f} (95% CI {lo:.4f}-{hi:.4f}), "
            f"F1 {s['metrics']['f1']:.3f}"
        )
    tuned = (config.get("finetune") or {}).get("heldout")
    if tuned:
        from relevance.train.heldout import heldout_summary

        print(f"fine-tuning on held-out stories: {heldout_summary(tuned)}")
    for level, s in ((config.get("evaluation") or {}).get("levels") or {}).items():
        lo, hi = s["ci95"]["average_precision"]
        print(
            f"--eval {level}: average precision {s['metrics']['average_precision']:.4f} "
            f"(95% CI {lo:.4f}-{hi:.4f}), F1 {s['metrics']['f1']:.3f} at the threshold"
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
        level=args.level,
        progress=TqdmProgress(disable=None, delay=1.0),  # a terminal only, after 1 s
    )
    paths = write_report(result, args.out)
    print(f"wrote {', '.join(str(p) for p in paths.values())}")
    for level, e in result.levels.items():
        m = e.metrics["systems"]["model"]
        lo, hi = m["ci95"]["average_precision"]
        print(
            f"  {level}: average precision {m['average_precision']:.4f} [{lo:.4f}, {hi:.4f}], "
            f"F1 {m['f1']:.3f} at threshold {m['threshold']:.3f}, ECE {m['ece']:.3f}"
        )
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="relevance", description="Score recommended stories against their main article."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    score = sub.add_parser("score", help="score pages or feed files with a model")
    score.add_argument(
        "inputs", nargs="+", help="pages (.txt, .html) or feeds (.jsonl, .csv, .parquet)"
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
    score.add_argument(
        "--level",
        choices=["story", "topic"],
        default=None,
        help="which probability drives probability, relevant and rank: story (the same "
        "story) or topic (this story or a related one); default: the model's (topic)",
    )
    score.add_argument(
        "--threshold",
        type=float,
        default=None,
        help="keep at this probability instead of the level's trained threshold",
    )
    score.add_argument("--top-k", type=int, default=None, help="keep at most K items per feed")
    score.set_defaults(func=_score)
    from relevance.cli.add_backend import register_cli

    register_cli(sub)  # the add-backend subcommand
    from relevance.cli.parse import register_cli as register_parse

    register_parse(sub)  # the parse subcommand

    train = sub.add_parser("train", help="fit a model from labelled feeds")
    train.add_argument("data", nargs="+", type=Path, help="labelled feeds (.jsonl, .csv, .parquet)")
    train.add_argument("--out", type=Path, required=True, help="model folder to write")
    train.add_argument(
        "--meta", nargs="+", type=Path, default=None, help="JSONL files with a record per feed_id"
    )
    train.add_argument(
        "--group-by",
        default=None,
        help="fold groups: a data column or dotted meta fields, first present wins, e.g. "
        "anchor.story,main.topic",
    )
    train.add_argument(
        "--min-precision",
        action="append",
        metavar="[LEVEL=]P",
        help="threshold with the highest recall at this out-of-fold precision, for every level "
        "or one (story=0.9); default: the F1-best threshold",
    )
    train.add_argument(
        "--min-recall",
        action="append",
        metavar="[LEVEL=]R",
        help="threshold with the highest precision at this out-of-fold recall",
    )
    train.add_argument("--folds", type=int, default=5)
    train.add_argument("--C", type=float, default=0.1, help="inverse L2 strength of the heads")
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
    ev.add_argument(
        "--meta", nargs="+", type=Path, default=None, help="JSONL files with a record per feed_id"
    )
    ev.add_argument(
        "--slice-by",
        default=None,
        help="a data column, a dotted meta field (anchor.category) or an item field (relation)",
    )
    ev.add_argument(
        "--level",
        choices=["story", "topic"],
        default=None,
        help="the headline level (both are measured when the data has grades)",
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
        _OptionError,
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
