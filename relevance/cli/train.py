"""``relevance train``: fit a model from labelled feeds, with its card, checks and comparison."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relevance.cli.options import HELP_FORMAT, NON_NEGATIVE, POSITIVE_NUMBER, integer, paragraph

EXAMPLES = """examples:
  relevance train labelled.jsonl --meta labelled.meta.jsonl --group-by anchor.story -o build/m
  relevance train a.jsonl b.jsonl --meta a.meta.jsonl b.meta.jsonl \\
      --group-by anchor.story,main.topic --finetune-embedder -o build/candidate
  relevance train new.jsonl -o build/m --eval held.jsonl --compare models/default --promote
  relevance train labelled.jsonl -o build/m --min-precision story=0.9
"""


class OptionError(ValueError):
    """A bad option value: exit 2 with the message, before any work."""


def register_cli(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "train",
        help="fit a model from labelled feeds",
        description=paragraph(
            "Fit a model folder from labelled feeds: items with grade (0/1/2) train "
            "both levels, items with label (0/1) the story level. Every check runs before any "
            "embedding; folds are grouped so that out-of-fold figures are on unseen stories."
        ),
        epilog=EXAMPLES,
        formatter_class=HELP_FORMAT,
    )
    p.add_argument(
        "data", nargs="+", type=Path, help="labelled feeds (.jsonl[.gz], .csv[.gz], .parquet)"
    )
    p.add_argument(
        "-o", "--output", "--out", dest="out", type=Path, required=True, metavar="DIR",
        help="model folder to write (replaced whole, atomically)",
    )  # fmt: skip
    p.add_argument(
        "--meta", nargs="+", type=Path, default=None, help="JSONL files with a record per feed_id"
    )
    p.add_argument(
        "--group-by", default=None,
        help="fold groups: a data column, or dotted meta fields, the first present winning "
        "(anchor.story,main.topic); default: each feed its own group",
    )  # fmt: skip
    p.add_argument(
        "--min-precision", action="append", metavar="[LEVEL=]P",
        help="threshold with the highest recall at this out-of-fold precision, for every level "
        "or one (story=0.9); repeatable. Default: the F1-best threshold",
    )  # fmt: skip
    p.add_argument(
        "--min-recall", action="append", metavar="[LEVEL=]R",
        help="threshold with the highest precision at this out-of-fold recall; repeatable",
    )  # fmt: skip
    p.add_argument("--folds", type=integer(2), default=5, help="cross-validation folds")
    p.add_argument(
        "--C", type=POSITIVE_NUMBER, default=0.1, help="inverse L2 strength of the head's stages"
    )
    p.add_argument("--seed", type=NON_NEGATIVE, default=0, help="seed of folds and fine-tuning")
    p.add_argument(
        "--finetune-embedder", action="store_true",
        help="fine-tune MiniLM on (article, same-story item) pairs, with related stories as "
        "hard negatives; stored in OUTPUT/embedder (needs the train extra)",
    )  # fmt: skip
    p.add_argument(
        "--eval", nargs="+", type=Path, default=None,
        help="labelled feeds to evaluate on (none of their texts may be in the training data)",
    )  # fmt: skip
    p.add_argument(
        "--compare", type=Path, default=None, help="model folder to compare with on --eval"
    )
    p.add_argument(
        "--promote", action="store_true",
        help="replace the --compare folder with the new model when it is not worse",
    )  # fmt: skip
    p.add_argument(
        "--cache-dir", type=Path, default=None,
        help="embedding cache folder (default: $XDG_CACHE_HOME/relevance)",
    )  # fmt: skip
    p.add_argument(
        "--no-cache", action="store_true",
        help="no on-disk embedding cache (texts are still encoded once, in memory)",
    )  # fmt: skip
    p.set_defaults(func=run)


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
            raise OptionError(
                f"{flag} {value!r}: expected P or LEVEL=P, P in (0, 1], LEVEL story or topic"
            )
        out[level or "*"] = share
    if "*" in out:
        if len(out) > 1:
            raise OptionError(f"{flag}: give one value for every level, or one per level")
        return out["*"]
    return out


def _objectives(args: argparse.Namespace) -> dict:
    """The estimator's objective parameters from --min-precision / --min-recall."""
    precision = _floors(args.min_precision, "--min-precision")
    recall = _floors(args.min_recall, "--min-recall")
    both = precision is not None and recall is not None
    per_level = isinstance(precision, dict) and isinstance(recall, dict)
    if both and (not per_level or set(precision) & set(recall)):  # type: ignore[arg-type]
        raise OptionError("--min-precision and --min-recall both set for one level")
    objective: str | dict = "f1"
    if isinstance(precision, float) or isinstance(recall, float):
        objective = "min_precision" if precision is not None else "min_recall"
    elif precision is not None or recall is not None:
        objective = {lv: "min_precision" for lv in precision or {}}
        objective |= {lv: "min_recall" for lv in recall or {}}
    return {"objective": objective, "min_precision": precision, "min_recall": recall}


def run(args: argparse.Namespace) -> int:
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
