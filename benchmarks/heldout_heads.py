"""Head variants on the held-out split of heldout_eval.py, reusing its fine-tuned embedders.

    python benchmarks/heldout_heads.py --from build/heldout [--variants base,...]

For each fold k, the embedder ``--from``/embedder-fold{k} (fine-tuned on the training
folds by ``heldout_eval.py --finetune``) embeds the training and test folds once; the
feature matrices (one per inner cross-validation fold, with its own lexicon, as
``RelevanceModel.fit_embedded`` builds them) are kept in ``--work``, so a head variant
costs seconds. Each variant is fitted exactly as the estimator fits its head (out-of-fold
logits, calibration per stage chosen by cross-fitted Brier, thresholds per level) and
scores the test fold; figures are pooled over folds with heldout_eval's ``measure``.
``base`` is the shipped recipe: it must reproduce --from/fold{k}-finetuned.json (--check).

A variant is a story combination, then ``+``-joined options:
- ``base``: continuation ratio, p_story = p_topic * P(story | topic) (shipped);
- ``direct``: a P(grade 2) stage on all items, p_story = min(direct, p_topic);
- ``geo``/``mean``: geometric/arithmetic mean of the two, capped by p_topic;
- ``stack``: a logistic stacker on the three stage logits (cross-fitted), capped;
- options: ``len`` (features x longness), ``longbin`` (features x [longness >= 0.5]),
  ``C=<c>`` (all stages), ``Cs=<c>`` (story stages), ``bal`` (balanced classes),
  ``leg12`` (the previous model's 12 features), ``nonames`` (no name features),
  ``hgb`` (gradient boosting heads), ``x1`` (direct stage without grade-1 items),
  ``rel`` (stack on feed-relative logits too).
Every calibration stays per stage (chosen by cross-fitted Brier), thresholds per level.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import heldout_eval as he  # noqa: E402


def fold_arrays(frame, k: int, source: Path, work: Path, n_splits: int = 5, seed: int = 0) -> dict:
    """Everything a head needs for fold k, computed once and kept as .npz."""
    cached_file = work / f"fold{k}.npz"
    if cached_file.exists():
        return dict(np.load(cached_file, allow_pickle=False))
    from sklearn.model_selection import GroupKFold

    from relevance.embed.cache import cached
    from relevance.embed.encoder import embed_feeds
    from relevance.model.calibration import longness
    from relevance.model.estimator import _fit_lexicon
    from relevance.model.levels import targets
    from relevance.model.names import NameExtractor
    from relevance.model.scorer import feature_matrix as _features
    from relevance.model.similarity import embedding_similarities
    from relevance.train.finetune import MiniLMFinetuner

    test_rows = (frame["fold"] == k).to_numpy()
    train = frame[~test_rows].reset_index(drop=True)
    test = frame[test_rows].reset_index(drop=True)
    embedder = cached(MiniLMFinetuner().load(source / f"embedder-fold{k}"))
    out: dict[str, np.ndarray] = {}
    names = NameExtractor()
    emb = embed_feeds(train, embedder)
    texts, sims = emb.texts, embedding_similarities(emb)
    groups = train["group"].to_numpy()
    t = targets(train)
    splitter = GroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    inner = np.empty(len(train), dtype=np.int64)
    for j, (tr, te) in enumerate(splitter.split(np.zeros(len(train)), t.story, groups)):
        inner[te] = j
        out[f"X_inner{j}"] = _features(
            emb, texts, _fit_lexicon(texts, tr, emb.item_feed), names, sims
        )
    lexicon = _fit_lexicon(texts, np.arange(len(train)), emb.item_feed)
    out["X_train"] = _features(emb, texts, lexicon, names, sims)
    out["inner"] = inner
    out["grade"] = t.grade
    out["length"] = longness(np.array([len(a) for a in texts.articles]))[emb.item_feed]
    out["is_long_train"] = (train["set"] == "ecb").to_numpy()
    emb_te = embed_feeds(test, embedder)
    out["X_test"] = _features(emb_te, emb_te.texts, lexicon, names, embedding_similarities(emb_te))
    out["length_test"] = longness(np.array([len(a) for a in emb_te.texts.articles]))[
        emb_te.item_feed
    ]
    out["groups"] = groups.astype(str)
    np.savez(cached_file, **out)
    return out


# ----------------------------------------------------------------------------- variants
#
# A variant maps (X, grade-derived targets) to stage logits; ``compose`` maps calibrated
# stage probabilities to the two levels. Everything else (out-of-fold logits,
# calibration, thresholds) is the estimator's own code path, shared by all variants.


def stages_of(variant: str) -> dict[str, tuple[Callable, Callable]]:
    """stage -> (rows(grade) mask, target(grade))."""
    every = lambda g: np.ones(len(g), bool)  # noqa: E731
    topical = lambda g: g >= 1  # noqa: E731
    st = {
        "topic": (every, lambda g: (g >= 1).astype(int)),
        "story_given_topic": (topical, lambda g: (g == 2).astype(int)),
    }
    if variant.startswith(("direct", "geo", "mean", "min", "stack")):
        st["story_direct"] = (every, lambda g: (g == 2).astype(int))
    if "x1" in variant.split("+"):
        st["story_direct"] = (lambda g: g != 1, lambda g: (g == 2).astype(int))
    if variant.startswith("dironly"):
        st = {"topic": st["topic"], "story_direct": (every, lambda g: (g == 2).astype(int))}
    return st


def compose(variant: str, p: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    topic = p["topic"]
    if "story_given_topic" in p:
        cr = topic * p["story_given_topic"]
    if variant.startswith(("direct", "min", "dironly")):
        story = np.minimum(p["story_direct"], topic)
    elif variant.startswith("geo"):
        story = np.minimum(np.sqrt(cr * p["story_direct"]), topic)
    elif variant.startswith("mean"):
        story = np.minimum((cr + p["story_direct"]) / 2, topic)
    else:
        story = cr
    return {"topic": topic, "story": story}


LEGACY12 = [
    "cos_article", "cos_best_sentence", "cos_title", "tfidf", "cos_article_z",
    "cos_article_rank", "cos_article_minus_max", "cos_article_minus_median",
    "cos_best_sentence_minus_median", "tfidf_z", "neighbour_support", "neighbour_support_top3",
]  # fmt: skip


def design(variant: str, X: np.ndarray, length: np.ndarray) -> np.ndarray:
    from relevance.model.features import FEATURE_NAMES

    parts = variant.split("+")
    if "leg12" in parts:
        X = X[:, [FEATURE_NAMES.index(c) for c in LEGACY12]]
    if "nonames" in parts:
        X = X[
            :, [i for i, c in enumerate(FEATURE_NAMES) if not c.startswith(("names_", "numbers_"))]
        ]
    if "longbin" in parts:
        length = (length >= 0.5).astype(float)
    if "len" in parts or "longbin" in parts:
        return np.column_stack([X, X * length[:, None], length])
    if "sq" in parts:
        return np.column_stack([X, X**2])
    return X


class HGBHead:
    def __init__(self, **kw):
        from sklearn.ensemble import HistGradientBoostingClassifier

        self.m = HistGradientBoostingClassifier(
            max_iter=200,
            learning_rate=0.05,
            max_leaf_nodes=15,
            l2_regularization=1.0,
            random_state=0,
        )

    def fit(self, X, y):
        self.m.fit(X, y)
        return self

    def decision_function(self, X):
        return self.m.decision_function(X)


def head_of(variant: str, C: float, cw, stage: str = "topic"):
    from relevance.model.head import LogisticHead

    for part in variant.split("+"):
        if part.startswith("Cs=") and stage != "topic":
            C = float(part[3:])

    if "hgb" in variant.split("+"):
        return HGBHead()
    return LogisticHead(C=C, class_weight=cw)


def C_of(variant: str, default: float) -> float:
    for part in variant.split("+"):
        if part.startswith("C="):
            return float(part[2:])
    return default


def run_variant(variant: str, a: dict, seed: int = 0) -> dict[str, np.ndarray]:
    from relevance.model.calibration import Calibrator, choose_calibration
    from relevance.model.threshold import choose_threshold

    C = C_of(variant, 0.1)
    cw = "balanced" if "bal" in variant.split("+") else None
    grade, groups, inner = a["grade"], a["groups"], a["inner"]
    length, length_te = a["length"], a["length_test"]
    stages = stages_of(variant)
    n = len(grade)
    logits = {s: np.empty(n) for s in stages}
    for j in np.unique(inner):
        X = design(variant, a[f"X_inner{j}"], length)
        tr, te = np.flatnonzero(inner != j), np.flatnonzero(inner == j)
        for s, (rows_fn, tgt_fn) in stages.items():
            rows, target = rows_fn(grade), tgt_fn(grade)
            fit = tr[rows[tr]]
            head = head_of(variant, C, cw, s).fit(X[fit], target[fit])
            logits[s][te] = head.decision_function(X[te])
    oof_p, methods = {}, {}
    for s, (rows_fn, tgt_fn) in stages.items():
        rows, target = rows_fn(grade), tgt_fn(grade)
        methods[s], _, oof_p[s] = choose_calibration(logits[s], target, groups, length, rows)
    oof_level = compose(variant, oof_p)
    if variant.startswith("stack"):
        from sklearn.linear_model import LogisticRegression
        from sklearn.model_selection import GroupKFold

        def Z(lg, L, feed):
            from relevance.model.features import _group_stats

            lb = (L >= 0.5).astype(float)
            cols = [lg["topic"], lg["story_given_topic"], lg["story_direct"]]
            if "rel" in variant.split("+"):
                codes = np.unique(feed, return_inverse=True)[1]
                for c in list(cols):
                    st = _group_stats(c, codes, codes.max() + 1)
                    cols += [c - st["max"], (c - st["mean"]) / (st["std"] + 1e-3)]
            return np.column_stack([*cols, *(c * lb for c in cols), lb])

        Zo, ys = Z(logits, length, a["feed_train"]), (grade == 2).astype(int)
        stacked = np.empty(n)
        for tr, te in GroupKFold(n_splits=5).split(Zo, ys, groups):
            stacked[te] = (
                LogisticRegression(C=1.0, max_iter=2000)
                .fit(Zo[tr], ys[tr])
                .predict_proba(Zo[te])[:, 1]
            )
        oof_level["story"] = np.minimum(stacked, oof_level["topic"])
        stacker = LogisticRegression(C=1.0, max_iter=2000).fit(Zo, ys)
    cuts = {
        "story": choose_threshold((grade == 2).astype(int), oof_level["story"], "f1", None, None),
        "topic": choose_threshold((grade >= 1).astype(int), oof_level["topic"], "f1", None, None),
    }
    Xf, Xt = design(variant, a["X_train"], length), design(variant, a["X_test"], length_te)
    test_p = {}
    for s, (rows_fn, tgt_fn) in stages.items():
        rows, target = rows_fn(grade), tgt_fn(grade)
        head = head_of(variant, C, cw, s).fit(Xf[rows], target[rows])
        cal = Calibrator(methods[s]).fit(logits[s][rows], target[rows], length[rows])
        test_p[s] = cal.predict(head.decision_function(Xt), length_te)
    out = compose(variant, test_p)
    if variant.startswith("stack"):
        test_logits = {}
        for s_, (rows_fn, tgt_fn) in stages.items():
            rows, target = rows_fn(grade), tgt_fn(grade)
            test_logits[s_] = (
                head_of(variant, C, cw, s_).fit(Xf[rows], target[rows]).decision_function(Xt)
            )
        out["story"] = np.minimum(
            stacker.predict_proba(Z(test_logits, length_te, a["feed_test"]))[:, 1], out["topic"]
        )
    out["_thresholds"] = {lv: c.threshold for lv, c in cuts.items()}
    out["_methods"] = methods
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--from", dest="source", type=Path, required=True)
    parser.add_argument("--work", type=Path, required=True)
    parser.add_argument("--folds", type=int, default=4)
    parser.add_argument("--variants", default="base")
    parser.add_argument("--check", action="store_true", help="compare base with the saved run")
    args = parser.parse_args(argv)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from relevance.model.metrics import paired_bootstrap_delta

    args.work.mkdir(parents=True, exist_ok=True)
    frame = he.load(args.folds)
    arrays = [fold_arrays(frame, k, args.source, args.work) for k in range(args.folds)]
    n = len(frame)
    legacy = np.empty(n)
    for k in range(args.folds):
        rows = (frame["fold"] == k).to_numpy()
        legacy[rows] = json.loads((args.source / f"fold{k}-legacy_finetuned.json").read_text())[
            "single"
        ]
    table = {}
    for variant in args.variants.split(","):
        scores = {"story": np.empty(n), "topic": np.empty(n)}
        kept = {"story": np.zeros(n, bool), "topic": np.zeros(n, bool)}
        per_fold = []
        for k in range(args.folds):
            rows = (frame["fold"] == k).to_numpy()
            arrays[k]["feed_train"] = frame["feed_id"].to_numpy()[~rows].astype(str)
            arrays[k]["feed_test"] = frame["feed_id"].to_numpy()[rows].astype(str)
            got = run_variant(variant, arrays[k])
            for lv in ("story", "topic"):
                scores[lv][rows] = got[lv]
                kept[lv][rows] = got[lv] >= got["_thresholds"][lv]
            if args.check and variant == "base":
                saved = json.loads((args.source / f"fold{k}-finetuned.json").read_text())
                for lv in ("story", "topic"):
                    d = np.abs(np.asarray(saved[lv]) - got[lv]).max()
                    print(f"fold {k} {lv}: max |base - saved| = {d:.2e}", flush=True)
            if np.any(got["story"] > got["topic"] + 1e-12):
                raise RuntimeError(f"{variant}: p_story > p_topic on fold {k}")
            per_fold.append({"methods": got["_methods"], "thresholds": got["_thresholds"]})
            wiki = rows & (frame["set"] == "wikipedia").to_numpy()
            y = (frame["grade"].to_numpy()[wiki] == 2).astype(int)
            from relevance.model.metrics import item_metrics

            ap = item_metrics(y, scores["story"][wiki])["average_precision"]
            print(f"  {variant} fold {k}: wiki story AP {ap:.3f}", flush=True)
        m = he.measure(frame, {variant: scores}, {variant: kept})
        wiki = (frame["set"] == "wikipedia").to_numpy()
        y = (frame["grade"].to_numpy()[wiki] == 2).astype(int)
        delta = paired_bootstrap_delta(
            y, scores["story"][wiki], legacy[wiki], frame["feed_id"].to_numpy()[wiki]
        )
        row = {
            s: {
                lv: {key: m[s][variant][lv][key] for key in ("average_precision", "ece", "f1")}
                for lv in ("story", "topic")
            }
            for s in ("wikipedia", "ecb")
        }
        row["wiki_story_vs_legacy"] = delta
        row["per_fold"] = per_fold
        table[variant] = row
        print(
            f"{variant:28s} wiki story AP {row['wikipedia']['story']['average_precision']:.4f} "
            f"ECE {row['wikipedia']['story']['ece']:.3f} | topic AP "
            f"{row['wikipedia']['topic']['average_precision']:.4f} ECE "
            f"{row['wikipedia']['topic']['ece']:.3f} || ecb story AP "
            f"{row['ecb']['story']['average_precision']:.4f} ECE {row['ecb']['story']['ece']:.3f}"
            f" | topic AP {row['ecb']['topic']['average_precision']:.4f} ECE "
            f"{row['ecb']['topic']['ece']:.3f} || diff {delta['delta']:+.4f} "
            f"[{delta['ci95'][0]:+.4f}, {delta['ci95'][1]:+.4f}]",
            flush=True,
        )
        (args.work / f"variant-{variant}.json").write_text(json.dumps(row, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
