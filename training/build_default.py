"""Build the default model with a fine-tuned embedder, keeping the frozen one beside it.

    python -m training.build_default            # models/frozen, then models/default

1. trains the frozen-embedder model (exactly as ``make model``) into ``--frozen``;
2. trains a model with ``--finetune-embedder`` into ``--staging`` (default build/finetuned);
3. promotes the staged folder to ``--dest`` only if its own held-out comparison (fine-tuned vs
   frozen embedder on stories the tuned embedder never saw) passes the promotion rule of
   relevance/train/compare.py (delta AP >= 0, or the 95% interval's lower bound > -0.005);
   ``--force`` promotes regardless, and says so.

No separate labelled evaluation set ships with the repository, so the held-out stories of
step 2 stand in for ``--compare --eval``. Exit status: 0 promoted, 3 refused, 2 bad data.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    from relevance.io.schema import InputError
    from relevance.model.threshold import ObjectiveNotMet
    from relevance.train.compare import not_worse, promote
    from relevance.train.finetune import heldout_summary
    from relevance.train.pipeline import train

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "dev.jsonl")
    parser.add_argument("--meta", type=Path, default=ROOT / "data" / "dev.meta.jsonl")
    parser.add_argument("--group-by", default="anchor.story")
    parser.add_argument("--dest", type=Path, default=ROOT / "models" / "default")
    parser.add_argument("--frozen", type=Path, default=ROOT / "models" / "frozen")
    parser.add_argument("--staging", type=Path, default=ROOT / "build" / "finetuned")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", type=Path, default=None)
    parser.add_argument("--force", action="store_true", help="promote even if not shown better")
    args = parser.parse_args(argv)
    log = logging.getLogger("relevance")
    handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("build_default: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    common = {
        "meta": args.meta,
        "group_by": args.group_by,
        "random_state": args.seed,
        "cache_dir": args.cache_dir,
    }
    try:
        start = time.perf_counter()
        train([args.data], args.frozen, **common)
        frozen_s = time.perf_counter() - start
        model = train([args.data], args.staging, finetune=True, **common)
        tuned_s = time.perf_counter() - start - frozen_s
    except (InputError, ObjectiveNotMet) as exc:
        print(f"build_default: error: {exc}", file=sys.stderr)
        return 2
    held = model.train_info_["config"]["finetune"]["heldout"]
    d = held["delta_average_precision"]
    print(
        f"frozen model: {args.frozen} ({frozen_s:.0f} s); fine-tuned model: {args.staging} "
        f"({tuned_s:.0f} s). Held-out stories: {heldout_summary(held)}"
    )
    if not (not_worse(d) or args.force):
        print(f"build_default: not promoted; {args.dest} is unchanged", file=sys.stderr)
        return 3
    print(promote(args.staging, args.dest) + (" (--force)" if not not_worse(d) else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
