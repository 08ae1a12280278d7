"""Held-out figures of README: every story and every ECB+ topic held out once, both levels.

    python benchmarks/heldout_eval.py --out build/heldout [--finetune] [--legacy]

Split: within each data set, the groups (``anchor.story`` for the Wikipedia blurbs,
``main.topic`` for the ECB+ articles) are sorted by the sha256 of their name and cut into
``--folds`` (4) contiguous quarters; fold k holds out quarter k of both sets and trains on
the other three. Every feed is scored once, by a model that never saw its story or topic
(the fine-tuned embedder included), and the figures are computed on all out-of-fold
scores, per data set and per level, with 95% intervals from resampling whole feeds.

Systems:
- ``frozen``: this version's recipe on the packaged MiniLM (``relevance train``);
- ``finetuned`` (``--finetune``): the same with the embedder fine-tuned on the training
  folds (hard negatives from related stories), as ``make model`` builds the default;
- ``tfidf``: plain TF-IDF cosine of item and article (IDF fitted on the scored feeds);
- ``legacy``/``legacy_finetuned`` (``--legacy``): the single-probability model of commit
  LEGACY_COMMIT (frozen, and fine-tuned as that version's default was), trained on the
  training folds' Wikipedia feeds with labels only, as that version was (no related items,
  no long articles). It runs from a git worktree of that commit in ``--out``/legacy.

Writes ``heldout.json`` (every figure) and ``heldout.md`` (README's table) under ``--out``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "data"
SETS = {
    "wikipedia": ("dev_graded", "anchor.story"),
    "ecb": ("ecb_dev", "main.topic"),
}
LEGACY_COMMIT = "392aa70"
N_RESAMPLES = 1000


def groups_of(name: str, field: str, feed_ids: pd.Series) -> np.ndarray:
    from relevance.io.meta import lookup, read_meta

    meta = read_meta(DATA / f"{name}.meta.jsonl")
    return feed_ids.map(lambda f: f"{field}={lookup(meta[f], field)}").to_numpy()


def folds_of(groups: np.ndarray, k: int) -> np.ndarray:
    names = sorted(set(groups), key=lambda s: hashlib.sha256(s.encode()).hexdigest())
    fold = {g: i * k // len(names) for i, g in enumerate(names)}
    return np.array([fold[g] for g in groups])


def load(k: int) -> pd.DataFrame:
    from relevance.io.reader import read_input

    frames = []
    for key, (name, field) in SETS.items():
        frame = read_input(DATA / f"{name}.jsonl")
        frame["group"] = groups_of(name, field, frame["feed_id"])
        frame["fold"] = folds_of(frame["group"].to_numpy(), k)
        frame["set"] = key
        frames.append(frame)
    return pd.concat(frames, ignore_index=True)


def tfidf(frame: pd.DataFrame) -> np.ndarray:
    from relevance.eval.evaluation import tfidf_scores

    codes, _ = pd.factorize(frame["feed_id"], sort=False)
    return tfidf_scores(frame, codes)


def fit_new(train: pd.DataFrame, test: pd.DataFrame, embedder) -> dict[str, np.ndarray]:
    from relevance.model.estimator import RelevanceModel

    model = RelevanceModel(embedder=embedder).fit(train, groups=train["group"].to_numpy())
    return {**model.level_probabilities(test), "_thresholds": model.thresholds_}


def finetuned_embedder(train: pd.DataFrame, folder: Path, seed: int):
    """The fold's fine-tuned embedder; one already in ``folder`` (a resumed run) is reused."""
    from relevance.embed.cache import cached
    from relevance.train.finetune import FinetuneSettings, MiniLMFinetuner, training_examples

    tuner = MiniLMFinetuner()
    if not (folder / "modules.json").is_file():
        tuner.tune(training_examples(train), folder, FinetuneSettings(seed=seed))
    return cached(tuner.load(folder))


def legacy(
    train: pd.DataFrame, test: pd.DataFrame, work: Path, finetune: bool
) -> tuple[np.ndarray, float]:
    """The legacy recipe in a subprocess on its own code (a worktree of LEGACY_COMMIT)."""
    code = work / "legacy"
    if not code.exists():
        subprocess.run(
            ["git", "-C", str(ROOT), "worktree", "add", "--detach", str(code), LEGACY_COMMIT],
            check=True,
            capture_output=True,
        )
    wiki = train[(train["set"] == "wikipedia") & (train["grade"] != 1)]
    with tempfile.TemporaryDirectory(dir=work) as tmp:
        t = Path(tmp)
        cols = ["feed_id", "article_title", "article_body", "item_id", "item_title"]
        cols += ["item_summary"]
        wiki[[*cols, "label", "group"]].to_parquet(t / "train.parquet", index=False)
        test[cols].to_parquet(t / "test.parquet", index=False)
        # That version's embedding cache has another schema: it gets a cache of its own.
        cache = str(work / "legacy-cache")
        env = {**os.environ, "PYTHONPATH": str(code), "XDG_CACHE_HOME": cache}
        argv = [sys.executable, str(ROOT / "benchmarks" / "legacy_recipe.py"), str(t)]
        subprocess.run([*argv, *(["--finetune"] if finetune else [])], check=True, env=env)
        return np.load(t / "scores.npy"), float(json.loads((t / "threshold.json").read_text()))


def measure(frame: pd.DataFrame, scores: dict[str, dict], kept: dict[str, dict]) -> dict:
    """Per data set, system and level: AP, ECE, and F1 of the keep decisions, with CIs.

    ``kept`` holds each system's decisions: every fold's model with its own threshold.
    """
    from functools import partial

    from relevance.model.metrics import all_metrics, bootstrap_ci, item_metrics

    out: dict = {}
    for key in SETS:
        rows = (frame["set"] == key).to_numpy()
        feed = frame["feed_id"].to_numpy()[rows]
        grade = frame["grade"].to_numpy()[rows]
        out[key] = {"n_feeds": int(len(np.unique(feed))), "n_items": int(rows.sum())}
        for system, by_level in scores.items():
            res = {}
            for level, y in (("story", grade == 2), ("topic", grade >= 1)):
                p = by_level.get(level, by_level.get("single"))
                if p is None:
                    continue
                p, yy = p[rows], y.astype(int)
                point = item_metrics(yy, p)
                ci = bootstrap_ci(yy, p, feed, all_metrics, N_RESAMPLES, 0)
                keys = ["average_precision", "ece"]
                res[level] = {k: point[k] for k in keys} | {"ci95": {k: list(ci[k]) for k in keys}}
                decision = kept.get(system, {}).get(level)
                if decision is not None:
                    d = decision[rows].astype(np.float64)
                    fn = partial(all_metrics, threshold=0.5)
                    at, at_ci = fn(yy, d, feed), bootstrap_ci(yy, d, feed, fn, N_RESAMPLES, 0)
                    for k in ("f1", "precision", "recall"):
                        res[level][k], res[level]["ci95"][k] = at[k], list(at_ci[k])
            out[key][system] = res
    return out


def markdown(result: dict) -> str:
    names = {
        "finetuned": "this version, fine-tuned embedder (the default)",
        "frozen": "this version, frozen MiniLM (models/frozen)",
        "legacy_finetuned": f"previous single-probability default ({LEGACY_COMMIT})",
        "legacy": f"previous single-probability model, frozen ({LEGACY_COMMIT})",
        "tfidf": "TF-IDF cosine",
    }

    def cell(m: dict | None, key: str) -> str:
        if not m or m.get(key) is None or m[key] != m[key]:
            return "–"
        lo, hi = m["ci95"][key]
        return f"{m[key]:.3f} [{lo:.3f}, {hi:.3f}]"

    lines = []
    for key, label in (("wikipedia", "Wikipedia blurbs"), ("ecb", "ECB+ long articles")):
        r = result["measures"][key]
        lines += [
            f"**{label}** ({r['n_feeds']} feeds, {r['n_items']} items, each scored out of fold)",
            "",
            "| system | story AP | topic AP | story ECE | topic ECE | story F1 | topic F1 |",
            "|---|---|---|---|---|---|---|",
        ]
        for system in names:
            if system not in r:
                continue
            s, t = r[system].get("story"), r[system].get("topic")
            lines.append(
                f"| {names[system]} | {cell(s, 'average_precision')} | "
                f"{cell(t, 'average_precision')} | {cell(s, 'ece')} | {cell(t, 'ece')} | "
                f"{cell(s, 'f1')} | {cell(t, 'f1')} |"
            )
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--finetune", action="store_true")
    parser.add_argument("--legacy", action="store_true")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from relevance.embed.cache import cached
    from relevance.embed.encoder import SentenceTransformerEmbedder

    args.out.mkdir(parents=True, exist_ok=True)
    frame = load(args.folds)
    n = len(frame)
    scores: dict[str, dict[str, np.ndarray]] = {"tfidf": {"single": np.empty(n)}}
    kept: dict[str, dict[str, np.ndarray]] = {}
    systems = ["frozen", *(["finetuned"] if args.finetune else [])]
    systems += ["legacy", "legacy_finetuned"] if args.legacy else []
    for s in systems:
        scores[s] = {"story": np.empty(n), "topic": np.empty(n)}
        kept[s] = {"story": np.zeros(n, bool), "topic": np.zeros(n, bool)}
        if s.startswith("legacy"):
            scores[s] = {"single": np.empty(n)}
            kept[s] = {"story": np.zeros(n, bool)}
    frozen = cached(SentenceTransformerEmbedder())
    per_fold_thresholds: dict[str, list] = {s: [] for s in systems}
    for k in range(args.folds):
        test_rows = (frame["fold"] == k).to_numpy()
        train = frame[~test_rows].reset_index(drop=True)
        test = frame[test_rows].reset_index(drop=True)
        n_train, n_test = train["feed_id"].nunique(), test["feed_id"].nunique()
        print(f"fold {k}: train {n_train} feeds, test {n_test}", flush=True)
        scores["tfidf"]["single"][test_rows] = tfidf(test)
        for system in systems:
            saved = args.out / f"fold{k}-{system}.json"
            if saved.exists():  # resume: a fold's scores are kept once computed
                got = {
                    key: (np.asarray(v) if key != "_thresholds" else v)
                    for key, v in json.loads(saved.read_text()).items()
                }
            elif system == "frozen":
                got = fit_new(train, test, frozen)
            elif system == "finetuned":
                folder = args.out / f"embedder-fold{k}"
                got = fit_new(train, test, finetuned_embedder(train, folder, args.seed))
            else:
                p, t = legacy(train, test, args.out, system == "legacy_finetuned")
                got = {"single": p, "_thresholds": {"story": t}}
            if not saved.exists():
                plain = {key: (v.tolist() if key != "_thresholds" else v) for key, v in got.items()}
                saved.write_text(json.dumps(plain))
            cuts = got.pop("_thresholds")
            per_fold_thresholds[system].append(cuts)
            for level, p in got.items():
                scores[system][level][test_rows] = p
            for level in kept[system]:  # each fold's model keeps by its own threshold
                p = got.get(level, got.get("single"))
                kept[system][level][test_rows] = p >= cuts[level]
            print(f"  {system} done", flush=True)
    result = {
        "split": {
            "rule": f"groups sorted by sha256 of their names, cut into {args.folds} quarters per "
            "data set; fold k holds out quarter k of both sets",
            "groups": {key: field for key, (_, field) in SETS.items()},
            "folds": args.folds,
        },
        "per_fold_thresholds": per_fold_thresholds,
        "measures": measure(frame, scores, kept),
    }
    (args.out / "heldout.json").write_text(json.dumps(result, indent=2, sort_keys=True) + "\n")
    (args.out / "heldout.md").write_text(markdown(result))
    print(markdown(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
