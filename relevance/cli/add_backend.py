"""``relevance add-backend``: fit a head for another embedding backend into a model folder."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from relevance.cli.options import NON_NEGATIVE, refuse_clobbering, refuse_repeats
from relevance.embed import BACKENDS


def register_cli(sub: argparse._SubParsersAction) -> None:
    """The ``add-backend`` subcommand."""
    p = sub.add_parser(
        "add-backend", help="fit a head for another embedding backend into a model folder"
    )
    p.add_argument("model", type=Path, help="model folder to add the head to")
    p.add_argument("data", nargs="+", type=Path, help="the labelled feeds it was trained on")
    p.add_argument("--backend", required=True, choices=[b for b in BACKENDS])
    p.add_argument(
        "--meta", nargs="+", type=Path, default=None, help="JSONL files with a record per feed_id"
    )
    p.add_argument(
        "--group-by", default=None, help="fold groups, e.g. anchor.story or anchor.story,main.topic"
    )
    p.add_argument("--seed", type=NON_NEGATIVE, default=None, help="default: the folder's own seed")
    p.add_argument("--cache-dir", type=Path, default=None, help="embedding cache folder")
    p.add_argument("--no-cache", action="store_true", help="do not use the embedding cache")
    p.set_defaults(func=_cli)


def _cli(args: argparse.Namespace) -> int:
    from relevance.persistence.backends import BACKENDS_DIR
    from relevance.persistence.folder import ModelLoadError
    from relevance.train.add_backend import add_backend

    refuse_repeats(args.data)
    # backends/NAME/ is replaced whole: no input may live there
    sub = args.model / BACKENDS_DIR / args.backend
    refuse_clobbering("--backend", [], [*args.data, *(args.meta or [])], folder=sub)
    try:
        model = add_backend(
            args.model,
            args.data,
            args.backend,
            meta=args.meta,
            group_by=args.group_by,
            seed=args.seed,
            cache_dir=args.cache_dir,
            use_cache=not args.no_cache,
        )
    except ValueError as exc:
        if isinstance(exc, ModelLoadError):
            raise
        print(f"relevance add-backend: error: {exc}", file=sys.stderr)
        return 2
    print(f"added {args.model / BACKENDS_DIR / args.backend}:")
    for level, m in model.report_.metrics["levels"].items():
        print(
            f"  {level}: out-of-fold average precision {m['oof_average_precision']:.4f}, "
            f"threshold {model.thresholds_[level]:.4f} (precision {m['oof_precision']:.3f}, "
            f"recall {m['oof_recall']:.3f}, F1 {m['oof_f1']:.3f})"
        )
    return 0
