"""Build the default model with a fine-tuned embedder, keeping the frozen one beside it.

    python -m training.build_default            # models/frozen, then models/default

Both are trained on the graded feeds of ``data/``: the Wikipedia blurbs
(``dev_graded.jsonl``) and the long ECB+ articles (``ecb_dev.jsonl``), with folds and the
held-out split grouped by story (``anchor.story``) and by ECB+ topic (``main.topic``).

1. trains the frozen-embedder model into ``--frozen``;
2. trains a model with ``--finetune-embedder`` (hard negatives: related stories) into
   ``--staging`` (default build/finetuned);
3. promotes the staged folder to ``--dest`` only if its own held-out comparison (fine-tuned
   vs frozen embedder on stories the tuned embedder never saw) says it beats the frozen one
   at both levels: delta AP > 0 at each, and no level worse by the promotion rule
   (``relevance.train.compare``). ``--force`` promotes regardless, and says so.

Exit status: 0 promoted, 3 refused, 2 bad data.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"


def main(argv: list[str] | None = None) -> int:
    from relevance.io.errors import InputError
    from relevance.model.threshold import ObjectiveNotMet
    from relevance.train.compare import promote
    from relevance.train.heldout import heldout_summary
    from relevance.train.pipeline import train

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--data", nargs="+", type=Path, default=[DATA / "dev_graded.jsonl", DATA / "ecb_dev.jsonl"]
    )
    parser.add_argument(
        "--meta",
        nargs="+",
        type=Path,
        default=[DATA / "dev_graded.meta.jsonl", DATA / "ecb_dev.meta.jsonl"],
    )
    parser.add_argument("--group-by", default="anchor.story,main.topic")
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
        train(args.data, args.frozen, **common)
        frozen_s = time.perf_counter() - start
        model = train(args.data, args.staging, finetune=True, **common)
        tuned_s = time.perf_counter() - start - frozen_s
    except (InputError, ObjectiveNotMet) as exc:
        print(f"build_default: error: {exc}", file=sys.stderr)
        return 2
    held = model.train_info_["config"]["finetune"]["heldout"]
    print(
        f"frozen model: {args.frozen} ({frozen_s:.0f} s); fine-tuned model: {args.staging} "
        f"({tuned_s:.0f} s). Held-out stories: {heldout_summary(held)}"
    )
    if not (held["beats"] or args.force):
        print(f"build_default: not promoted; {args.dest} is unchanged", file=sys.stderr)
        return 3
    print(promote(args.staging, args.dest) + (" (--force)" if not held["beats"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
