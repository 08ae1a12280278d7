"""Honest held-out figures: split the dev feeds by story, train on one part, evaluate the other.

The shipped model is trained on all of data/dev.jsonl, so evaluating it there is in-sample.
This script holds out whole stories (``anchor.story`` of the meta file): the stories are
sorted by the sha256 of their name and the first 25% are held out, so the split is fixed,
independent of file order and of any random generator. It then trains a model on the rest
exactly as ``make model`` trains the default one and runs ``relevance evaluate`` on the
held-out feeds.

    python benchmarks/heldout_eval.py --out build/heldout

writes ``train.jsonl``/``heldout.jsonl`` (and their ``.meta.jsonl``), ``model/`` and
``report/`` (metrics.json, report.md, report.html) under ``--out``, and ``split.json``.
With ``--finetune`` it also trains the shipped default's recipe (``--finetune-embedder``)
on the same stories into ``finetuned/`` and evaluates it against ``model/`` (``--compare``)
into ``report-finetuned/``: the two embedders side by side on stories neither saw.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def story_split(stories: list[str], fraction: float) -> set[str]:
    """The held-out stories: the first ``fraction`` of them in sha256 order."""
    unique = sorted(set(stories), key=lambda s: hashlib.sha256(s.encode("utf-8")).hexdigest())
    return set(unique[: math.ceil(fraction * len(unique))])


def split_files(data: Path, meta: Path, out: Path, fraction: float) -> dict:
    """Write the two halves line for line (bytes unchanged) and say what went where."""
    lines = data.read_text(encoding="utf-8").splitlines(keepends=True)
    metas = meta.read_text(encoding="utf-8").splitlines(keepends=True)
    records = [json.loads(m) for m in metas]
    by_feed = {r["feed_id"]: r for r in records}
    held = story_split([r["anchor"]["story"] for r in records], fraction)
    parts: dict[str, tuple[list[str], list[str]]] = {"train": ([], []), "heldout": ([], [])}
    events = {"train": set(), "heldout": set()}
    for line in lines:
        if not line.strip():
            continue
        record = by_feed[json.loads(line)["feed_id"]]
        part = "heldout" if record["anchor"]["story"] in held else "train"
        parts[part][0].append(line)
        parts[part][1].append(json.dumps(record, ensure_ascii=False) + "\n")
        events[part].add(record["anchor"]["event_id"])
        events[part].update(i["event_id"] for i in record["items"])
    out.mkdir(parents=True, exist_ok=True)
    for part, (feeds, meta_lines) in parts.items():
        (out / f"{part}.jsonl").write_text("".join(feeds), encoding="utf-8")
        (out / f"{part}.meta.jsonl").write_text("".join(meta_lines), encoding="utf-8")
    summary = {
        "fraction": fraction,
        "heldout_stories": sorted(held),
        "n_feeds": {part: len(feeds) for part, (feeds, _) in parts.items()},
        # Events of held-out stories can still appear in training feeds as off-topic items
        # (and vice versa); the count says how much text the two sides share.
        "shared_event_ids": len(events["train"] & events["heldout"]),
    }
    (out / "split.json").write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "dev.jsonl")
    parser.add_argument("--meta", type=Path, default=ROOT / "data" / "dev.meta.jsonl")
    parser.add_argument("--out", type=Path, default=ROOT / "build" / "heldout")
    parser.add_argument("--heldout", type=float, default=0.25, help="share of stories held out")
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--slice-by", default="relation")
    parser.add_argument(
        "--finetune",
        action="store_true",
        help="also train the default recipe (--finetune-embedder) into finetuned/ and "
        "evaluate it with the frozen-embedder model/ as --compare, into report-finetuned/",
    )
    args = parser.parse_args(argv)

    from relevance.cli import main as relevance

    split = split_files(args.data, args.meta, args.out, args.heldout)
    print(
        f"split: {len(split['heldout_stories'])} stories held out, feeds {split['n_feeds']}, "
        f"{split['shared_event_ids']} event ids on both sides",
        file=sys.stderr,
    )
    o = args.out
    train = ["train", str(o / "train.jsonl"), "--meta", str(o / "train.meta.jsonl")]
    train += ["--group-by", "anchor.story", "--out", str(o / "model"), "--seed", str(args.seed)]
    if relevance(train) != 0:
        return 1
    evaluate = ["evaluate", str(o / "heldout.jsonl"), "--model", str(o / "model")]
    evaluate += ["--meta", str(o / "heldout.meta.jsonl"), "--slice-by", args.slice_by]
    evaluate += ["--bootstrap", str(args.bootstrap), "--seed", str(args.seed)]
    if relevance([*evaluate, "--out", str(o / "report")]) != 0:
        return 1
    if not args.finetune:
        return 0
    tuned = [*train[:-4], "--out", str(o / "finetuned"), "--seed", str(args.seed)]
    if relevance([*tuned, "--finetune-embedder"]) != 0:
        return 1
    evaluate[3] = str(o / "finetuned")
    evaluate += ["--compare", str(o / "model")]
    return relevance([*evaluate, "--out", str(o / "report-finetuned")])


if __name__ == "__main__":
    sys.exit(main())
