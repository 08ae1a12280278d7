"""Compare a new model with an existing one on the same labelled data, and promote it.

Rule for promotion ("not worse"): the paired bootstrap over feeds of
delta = AP(new) - AP(old) either has delta >= 0, or its 95% interval's lower
bound is above -NOT_WORSE_MARGIN (0.005). So a model that is better, or whose
possible loss is at most half a point of average precision, replaces the old
one; anything that may be worse by more is refused.

Model folders are replaced atomically: the new folder is written beside the
target under a hidden name, verified, and swapped in with one rename
(renameat2 RENAME_EXCHANGE on Linux; two renames elsewhere).
"""

from __future__ import annotations

import ctypes
import errno
import os
import secrets
import shutil
import sys
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np

from relevance.embed.encoder import Embedder
from relevance.io.files import owner_tag, remove_dead
from relevance.model.estimator import RelevanceModel
from relevance.model.levels import Targets, targets
from relevance.model.metrics import all_metrics, bootstrap_ci, paired_bootstrap_delta
from relevance.persistence.artifacts import (
    CONFIG,
    load_model,
    make_embedder,
    read_config,
    sha256_file,
    verify_files,
)

NOT_WORSE_MARGIN = 0.005
N_RESAMPLES = 1000
HEADLINE = ("average_precision", "roc_auc", "brier", "precision", "recall", "f1", "ndcg@5", "map")
RULE = (
    "promote when, at every level the data has, delta AP (new - old) >= 0, or the lower bound "
    f"of its 95% paired bootstrap interval (by feed) is above -{NOT_WORSE_MARGIN}"
)


def summarise(y: np.ndarray, p: np.ndarray, feed: np.ndarray, threshold: float, seed: int) -> dict:
    """Headline metrics at ``threshold`` with 95% intervals from resampling whole feeds."""
    point = all_metrics(y, p, feed, threshold)
    ci = bootstrap_ci(y, p, feed, partial(all_metrics, threshold=threshold), N_RESAMPLES, seed)
    return {
        "n_feeds": int(len(np.unique(feed))),
        "n_items": int(len(y)),
        "n_relevant": int(np.sum(y)),
        "threshold": float(threshold),
        "metrics": {k: point[k] for k in HEADLINE},
        "ci95": {k: list(ci[k]) for k in HEADLINE},
    }


def not_worse(delta: dict) -> bool:
    return bool(delta["delta"] >= 0 or delta["ci95"][0] > -NOT_WORSE_MARGIN)


def summarise_levels(
    t: Targets,
    probabilities: dict[str, np.ndarray],
    feed: np.ndarray,
    thresholds: dict[str, float],
    seed: int,
    levels: tuple[str, ...] | None = None,
) -> dict[str, dict]:
    """``summarise`` for each level the labels and the model both have."""
    levels = levels or tuple(lv for lv in t.levels if lv in probabilities)
    return {
        lv: summarise(t.of_level(lv), probabilities[lv], feed, thresholds[lv], seed)
        for lv in levels
    }


def compare_probabilities(
    t: Targets,
    new: dict[str, np.ndarray],
    old: dict[str, np.ndarray],
    feed: np.ndarray,
    thresholds: tuple[dict[str, float], dict[str, float]],
    seed: int,
) -> dict:
    """Per level both systems' summaries and the paired bootstrap delta of AP (new - old).

    The levels are those the labels have and both systems score. ``better`` and
    ``not_worse`` hold only when they hold at every one of them.
    """
    levels = tuple(lv for lv in t.levels if lv in new and lv in old)
    out: dict = {"levels": {}}
    for lv in levels:
        y = t.of_level(lv)
        delta = paired_bootstrap_delta(
            y, new[lv], old[lv], feed, "average_precision", N_RESAMPLES, seed
        )
        out["levels"][lv] = {
            "new": summarise(y, new[lv], feed, thresholds[0][lv], seed),
            "old": summarise(y, old[lv], feed, thresholds[1][lv], seed),
            "delta_average_precision": delta,
            "better": bool(delta["ci95"][0] > 0),
            "not_worse": not_worse(delta),
        }
    out["better"] = all(v["better"] for v in out["levels"].values())
    out["not_worse"] = all(v["not_worse"] for v in out["levels"].values())
    out["beats"] = out["not_worse"] and all(
        v["delta_average_precision"]["delta"] > 0 for v in out["levels"].values()
    )
    return out


def load_for_compare(
    folder: str | Path, embedder: Embedder | None, wrap: Callable[[Embedder], Embedder]
) -> RelevanceModel:
    """Load (and verify) the model to compare with, its embedder behind the cache."""
    folder = Path(folder)
    embedder = embedder or make_embedder(folder, read_config(folder))
    return load_model(folder, embedder=wrap(embedder))


def compare_models(
    new: RelevanceModel,
    old: RelevanceModel,
    old_dir: str | Path,
    frame,
    seed: int,
) -> dict:
    """Both models on the same labelled table, level by level; paired bootstrap of AP."""
    t = targets(frame)
    feed = frame["feed_id"].to_numpy()
    result = compare_probabilities(
        t,
        new.level_probabilities(frame),
        old.level_probabilities(frame),
        feed,
        (new.thresholds_, old.thresholds_),
        seed,
    )
    return {
        "against": str(old_dir),
        "against_config_sha256": sha256_file(Path(old_dir) / CONFIG),
        **result,
        "rule": RULE,
    }


def describe(comparison: dict) -> str:
    """One paragraph a person can act on."""
    parts = []
    for lv, c in comparison["levels"].items():
        d, new, old = c["delta_average_precision"], c["new"], c["old"]
        lo, hi = d["ci95"]
        parts.append(
            f"{lv} level: average precision {new['metrics']['average_precision']:.4f} vs "
            f"{old['metrics']['average_precision']:.4f}, delta {d['delta']:+.4f} "
            f"(95% CI {lo:+.4f} to {hi:+.4f})"
        )
    if comparison["better"]:
        verdict = "the new model is better at every level (the intervals exclude 0)"
    elif comparison["not_worse"]:
        verdict = "no clear difference; the new model is not worse by the promotion rule"
    else:
        verdict = "the new model may be worse: it fails the promotion rule"
    first = next(iter(comparison["levels"].values()))["new"]
    return (
        f"new vs {comparison['against']} on {first['n_feeds']} feeds / {first['n_items']} items "
        f"(paired bootstrap by feed): {'; '.join(parts)}; {verdict}"
    )


# ----------------------------------------------------------------------------- folders


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths in one atomic step; False where the system cannot."""
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    fn = getattr(libc, "renameat2", None)
    if fn is None:
        return False
    fn.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p, ctypes.c_uint]
    at_fdcwd, rename_exchange = -100, 2
    if fn(at_fdcwd, os.fsencode(a), at_fdcwd, os.fsencode(b), rename_exchange) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.ENOTSUP, errno.EXDEV):
        return False
    raise OSError(err, os.strerror(err), str(b))


def sibling(target: Path, tag: str) -> Path:
    """A hidden, unused path beside ``target`` (same file system, so renames are atomic).

    Named by its owner (``owner_tag``): one left by a killed run is removed by the next
    (``remove_dead_siblings``).
    """
    return target.parent / f".{target.name}.{tag}-{owner_tag()}-{secrets.token_hex(4)}"


def remove_dead_siblings(target: Path) -> list[Path]:
    """The staging, old and promote folders of runs on ``target`` that were killed."""
    removed: list[Path] = []
    for tag in ("staging", "old", "promote"):
        removed += remove_dead(target.parent, f".{target.name}.{tag}-")
    return removed


def swap_in(staged: Path, target: Path) -> None:
    """Put ``staged`` at ``target``, replacing what is there; ``staged`` is consumed."""
    if not target.exists():
        os.rename(staged, target)
        return
    if _exchange(staged, target):
        shutil.rmtree(staged)  # now holds the previous folder
        return
    old = sibling(target, "old")
    os.rename(target, old)
    os.rename(staged, target)
    shutil.rmtree(old)


def promote(new_dir: str | Path, target: str | Path) -> str:
    """Copy a verified model folder over ``target`` atomically; returns what was done."""
    new_dir, target = Path(new_dir), Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    remove_dead_siblings(target)
    staged = sibling(target, "promote")
    try:
        shutil.copytree(new_dir, staged)
        verify_files(staged, read_config(staged))
        existed = target.exists()
        swap_in(staged, target)
    finally:
        shutil.rmtree(staged, ignore_errors=True)
    action = "replaced" if existed else "created"
    return f"promoted {new_dir} to {target} ({action} atomically; files verified)"


class PromotionRefused(RuntimeError):
    """The new model failed the promotion rule; the message carries the figures."""
