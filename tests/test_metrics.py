"""relevance.model.metrics: hand-computed tiny cases first, then cross-checks vs sklearn."""

from __future__ import annotations

import math
import warnings
from functools import partial

import numpy as np
import pytest
from sklearn.metrics import (
    average_precision_score,
    brier_score_loss,
    f1_score,
    matthews_corrcoef,
    ndcg_score,
    precision_score,
    recall_score,
    roc_auc_score,
)

from relevance.model.metrics import (
    all_metrics,
    best_f1_threshold,
    bootstrap_ci,
    feed_metrics,
    item_metrics,
    paired_bootstrap_delta,
    reliability_curve,
    threshold_sweep,
)

L2 = math.log2

# Feed A (6 items, already in score order):        Feed B (3 items):
#   score 0.9 0.8 0.7 0.6 0.5 0.4                    score 0.3 0.2 0.1
#   label  1   0   1   0   0   1                     label  0   1   0
# A: relevant at ranks 1, 3, 6.                      B: relevant at rank 2.
#   DCG@5  = 1/log2(2) + 1/log2(4)        = 1.5        DCG@5 = DCG@10 = 1/log2(3)
#   DCG@10 = 1.5 + 1/log2(7)                           IDCG = 1/log2(2) = 1
#   IDCG@5 = IDCG@10 = 1 + 1/log2(3) + 1/log2(4)       AP_B = (1/2)/1 = 1/2, RR_B = 1/2
#   AP_A = (1/1 + 2/3 + 3/6)/3 = 13/18, RR_A = 1       AUC_B: 0.2 vs {0.3, 0.1} -> 1/2
#   AUC_A: pos {.9,.7,.4} vs neg {.8,.6,.5}: 3+2+0 wins of 9 -> 5/9
# Means over the two feeds: MAP = (13/18 + 1/2)/2 = 11/18, MRR = 3/4, group AUC = 19/36.
A_S = [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
A_Y = [1, 0, 1, 0, 0, 1]
B_S = [0.3, 0.2, 0.1]
B_Y = [0, 1, 0]
IDCG_A = 1 + 1 / L2(3) + 1 / L2(4)
NDCG5_A, NDCG10_A = 1.5 / IDCG_A, (1.5 + 1 / L2(7)) / IDCG_A
NDCG_B = 1 / L2(3)


def two_feeds() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return np.array(A_Y + B_Y), np.array(A_S + B_S), np.array(["A"] * 6 + ["B"] * 3)


def test_two_feed_hand_values() -> None:
    m = feed_metrics(*two_feeds())
    assert m["ndcg@5"] == pytest.approx((NDCG5_A + NDCG_B) / 2)
    assert m["ndcg@10"] == pytest.approx((NDCG10_A + NDCG_B) / 2)
    assert m["map"] == pytest.approx(11 / 18)
    assert m["mrr"] == pytest.approx(3 / 4)
    assert m["group_auc"] == pytest.approx(19 / 36)
    assert "feeds_dropping_relevant" not in m


def test_input_order_and_feed_interleaving_do_not_matter() -> None:
    y, s, f = two_feeds()
    perm = np.random.default_rng(3).permutation(y.size)  # no ties, so order is irrelevant
    assert feed_metrics(y[perm], s[perm], f[perm]) == pytest.approx(feed_metrics(y, s, f))


@pytest.mark.parametrize(
    ("threshold", "expected"),
    # A's lowest relevant score is 0.4, B's is 0.2.
    [(0.15, 0.0), (0.3, 0.5), (0.45, 1.0)],
)
def test_feeds_dropping_relevant(threshold: float, expected: float) -> None:
    assert feed_metrics(*two_feeds(), threshold=threshold)[
        "feeds_dropping_relevant"
    ] == pytest.approx(expected)


def test_ties_broken_by_original_position() -> None:
    # One feed: scores 0.5, 0.5, 0.2 with the relevant item second among the tied pair.
    # Sorting by (-score, position) puts it at rank 2: RR = AP = 1/2, nDCG = 1/log2(3).
    # AUC counts the tied pair as 1/2: (0.5 + 1)/2 = 0.75 (as sklearn).
    y, s, f = np.array([0, 1, 0]), np.array([0.5, 0.5, 0.2]), np.zeros(3)
    m = feed_metrics(y, s, f)
    assert m["mrr"] == pytest.approx(0.5)
    assert m["map"] == pytest.approx(0.5)
    assert m["ndcg@5"] == pytest.approx(1 / L2(3))
    assert m["group_auc"] == pytest.approx(0.75) == roc_auc_score(y, s)
    # Swapping the tied items' positions moves the relevant one to rank 1 (documented).
    swapped = feed_metrics(y[[1, 0, 2]], s[[1, 0, 2]], f)
    assert swapped["mrr"] == swapped["map"] == swapped["ndcg@5"] == 1.0
    assert swapped["group_auc"] == pytest.approx(0.75)


def test_feed_without_relevant_is_excluded_from_feed_metrics_only() -> None:
    y, s, f = two_feeds()
    # Feed C: three irrelevant items, one scored above the 0.5 threshold.
    y3, s3 = np.r_[y, 0, 0, 0], np.r_[s, 0.95, 0.2, 0.1]
    f3 = np.r_[f, ["C"] * 3]
    assert feed_metrics(y3, s3, f3, 0.3) == pytest.approx(feed_metrics(y, s, f, 0.3))
    before, after = item_metrics(y, s, 0.5), item_metrics(y3, s3, 0.5)
    assert (after["fp"], after["tn"]) == (before["fp"] + 1, before["tn"] + 2)
    assert after["average_precision"] < before["average_precision"]
    assert all_metrics(y3, s3, f3, 0.5)["fp"] == after["fp"]


def test_feed_with_only_relevant_items() -> None:
    y, s, f = np.ones(4), np.array([0.9, 0.2, 0.5, 0.1]), np.zeros(4)
    m = feed_metrics(y, s, f)
    assert m["ndcg@5"] == m["ndcg@10"] == m["map"] == m["mrr"] == 1.0
    assert math.isnan(m["group_auc"])  # one class -> no AUC
    y2, s2, f2 = two_feeds()
    m2 = feed_metrics(np.r_[y2, y], np.r_[s2, s], np.r_[f2, ["D"] * 4])
    assert m2["map"] == pytest.approx((13 / 18 + 1 / 2 + 1) / 3)
    assert m2["group_auc"] == pytest.approx(19 / 36)  # D excluded


def test_ndcg_cut_at_k_counts_only_top_k() -> None:
    # 12 items, the only relevant one at rank 11 -> nDCG@5 = nDCG@10 = 0, MRR = 1/11.
    s = np.arange(12, 0, -1) / 12.0
    y = np.zeros(12)
    y[10] = 1
    m = feed_metrics(y, s, np.zeros(12))
    assert m["ndcg@5"] == m["ndcg@10"] == 0.0
    assert m["mrr"] == pytest.approx(1 / 11)


def test_feed_metrics_match_sklearn_per_feed_without_ties() -> None:
    rng = np.random.default_rng(0)
    f = np.repeat(np.arange(40), rng.integers(2, 15, 40))
    y, s = (rng.random(f.size) < 0.35).astype(int), rng.random(f.size)
    nd5, nd10, ap, auc = [], [], [], []
    for g in np.unique(f):
        yg, sg = y[f == g], s[f == g]
        if yg.sum() == 0:
            continue
        nd5.append(ndcg_score([yg], [sg], k=5))
        nd10.append(ndcg_score([yg], [sg], k=10))
        ap.append(average_precision_score(yg, sg))
        if yg.min() == 0:
            auc.append(roc_auc_score(yg, sg))
    m = feed_metrics(y, s, f)
    assert m["ndcg@5"] == pytest.approx(np.mean(nd5))
    assert m["ndcg@10"] == pytest.approx(np.mean(nd10))
    assert m["map"] == pytest.approx(np.mean(ap))
    assert m["group_auc"] == pytest.approx(np.mean(auc))


def test_group_auc_matches_sklearn_with_ties() -> None:
    rng = np.random.default_rng(1)
    f = np.repeat(np.arange(30), 8)
    y, s = (rng.random(f.size) < 0.4).astype(int), rng.integers(0, 4, f.size) / 4
    aucs = [roc_auc_score(y[f == g], s[f == g]) for g in range(30) if 0 < y[f == g].sum() < 8]
    assert feed_metrics(y, s, f)["group_auc"] == pytest.approx(np.mean(aucs))


def test_ece_and_brier_by_hand() -> None:
    # bins (width 0.1): b0 {0.05: y0}; b1 {0.15: y0, 0.15: y1}; b8 {0.85: y1}; b9 {0.95, 1.0: y1}
    # ECE = (1*|.05-0| + 2*|.15-.5| + 1*|.85-1| + 2*|.975-1|)/6 = 0.95/6
    # Brier = (.05^2 + .15^2 + .85^2 + .15^2 + .05^2 + 0)/6 = 0.7725/6
    y, p = np.array([0, 0, 1, 1, 1, 1]), np.array([0.05, 0.15, 0.15, 0.85, 0.95, 1.0])
    m = item_metrics(y, p)
    assert m["ece"] == pytest.approx(0.95 / 6)
    assert m["brier"] == pytest.approx(0.7725 / 6)
    rel = reliability_curve(y, p)
    assert list(rel.columns) == [
        "bin",
        "lower",
        "upper",
        "mean_predicted",
        "fraction_positive",
        "count",
    ]
    assert rel["count"].tolist() == [1, 2, 0, 0, 0, 0, 0, 0, 1, 2]  # p == 1.0 in the last bin
    assert rel.loc[9, "mean_predicted"] == pytest.approx(0.975)
    assert math.isnan(rel.loc[4, "fraction_positive"])


def test_bin_edges_are_left_closed() -> None:
    # 0.29 * 100 < 29 in floating point; it must still land in bin 29 of 100.
    assert reliability_curve([1], [0.29], n_bins=100)["count"][29] == 1
    assert reliability_curve([1], [0.3])["count"][3] == 1


def test_item_metrics_match_sklearn_with_ties() -> None:
    rng = np.random.default_rng(2)
    y = (rng.random(500) < 0.3).astype(int)
    p = np.round(np.clip(0.3 * y + 0.7 * rng.random(500), 0, 1), 1)  # heavy ties
    m = item_metrics(y, p, threshold=0.5)
    pred = (p >= 0.5).astype(int)
    assert m["average_precision"] == pytest.approx(average_precision_score(y, p))
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
    assert m["mcc"] == pytest.approx(matthews_corrcoef(y, pred))
    assert m["precision"] == pytest.approx(precision_score(y, pred))
    assert m["recall"] == pytest.approx(recall_score(y, pred))
    assert m["f1"] == pytest.approx(f1_score(y, pred))
    assert m["brier"] == pytest.approx(brier_score_loss(y, p), abs=1e-15)  # the fast path
    assert m["tp"] + m["fp"] + m["tn"] + m["fn"] == 500


def test_undefined_values_are_nan_not_errors() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = item_metrics(np.zeros(3), np.array([0.1, 0.6, 0.9]), threshold=0.95)
        assert math.isnan(m["roc_auc"]) and math.isnan(m["average_precision"])
        assert math.isnan(m["precision"]) and math.isnan(m["recall"]) and math.isnan(m["mcc"])
        assert m["f1"] != m["f1"]  # 0 tp, 0 fp, 0 fn
        assert math.isnan(item_metrics([0, 1], [-2.0, 3.0])["brier"])  # not probabilities
        e = all_metrics(np.array([]), np.array([]), np.array([]), threshold=0.5)
        counts = {"tp", "fp", "tn", "fn"}
        assert all(e[k] == 0 for k in counts)
        assert all(math.isnan(v) for k, v in e.items() if k not in counts)
        assert math.isnan(feed_metrics([0, 0], [0.1, 0.2], [1, 1])["map"])
    with pytest.raises(ValueError):
        item_metrics([0, 2], [0.1, 0.2])


def random_feeds(n_feeds: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    f = np.repeat(np.arange(n_feeds), rng.integers(3, 20, n_feeds))
    y = (rng.random(f.size) < 0.3).astype(int)
    return y, np.clip(0.35 * y + 0.65 * rng.random(f.size), 0, 1), f


def test_bootstrap_deterministic_and_contains_point_estimate() -> None:
    y, s, f = random_feeds(60, seed=4)
    fn = partial(all_metrics, threshold=0.5)
    ci = bootstrap_ci(y, s, f, fn, n_resamples=300, seed=7)
    assert ci == bootstrap_ci(y, s, f, fn, n_resamples=300, seed=7)
    assert ci != bootstrap_ci(y, s, f, fn, n_resamples=300, seed=8)
    point = fn(y, s, f)
    for k in ("average_precision", "roc_auc", "brier", "f1", "ndcg@5", "map", "group_auc"):
        lo, hi = ci[k]
        assert lo <= point[k] <= hi, k


def test_bootstrap_fast_path_equals_generic_path() -> None:
    y, s, f = random_feeds(30, seed=5)
    fast = bootstrap_ci(y, s, f, partial(all_metrics, threshold=0.4), n_resamples=50, seed=1)
    generic = bootstrap_ci(
        y, s, f, lambda a, b, c: all_metrics(a, b, c, threshold=0.4), n_resamples=50, seed=1
    )
    assert fast.keys() == generic.keys()
    for k in fast:
        assert fast[k] == pytest.approx(generic[k]), k


def test_bootstrap_resamples_whole_feeds_as_distinct_feeds() -> None:
    # Every feed is [irrelevant 0.9, relevant 0.5]: each feed's RR is exactly 1/2, so any
    # whole-feed resample has MRR 1/2. Resampling items would break feeds apart (a feed with
    # only its relevant item has RR 1), widening the interval.
    n = 25
    y, s, f = np.tile([0, 1], n), np.tile([0.9, 0.5], n), np.repeat(np.arange(n), 2)
    assert bootstrap_ci(y, s, f, feed_metrics, n_resamples=200)["mrr"] == (0.5, 0.5)

    # A feed drawn twice must come back as two feeds of the original size, not one merged feed.
    def shape(yy: np.ndarray, ss: np.ndarray, ff: np.ndarray) -> dict[str, float]:
        sizes = np.unique(ff, return_counts=True)[1]
        return {"n_feeds": float(sizes.size), "max_size": float(sizes.max())}

    ci = bootstrap_ci(y, s, f, shape, n_resamples=200)
    assert ci == {"n_feeds": (n, n), "max_size": (2.0, 2.0)}


def test_bootstrap_all_nan_metric_gives_nan_interval() -> None:
    y, s, f = np.zeros(6), np.linspace(0, 1, 6), np.repeat([0, 1], 3)
    lo, hi = bootstrap_ci(y, s, f, feed_metrics, n_resamples=20)["map"]
    assert math.isnan(lo) and math.isnan(hi)


def test_paired_delta_sign() -> None:
    y, good, f = random_feeds(50, seed=6)
    noise = np.random.default_rng(9).random(y.size)
    for metric in ("average_precision", "ndcg@5"):
        r = paired_bootstrap_delta(y, good, noise, f, metric=metric, n_resamples=300)
        assert r["delta"] > 0 and r["ci95"][0] > 0 and r["p_value"] < 0.05
        back = paired_bootstrap_delta(y, noise, good, f, metric=metric, n_resamples=300)
        assert back["delta"] == pytest.approx(-r["delta"]) and back["p_value"] > 0.95
    with pytest.raises(ValueError):
        paired_bootstrap_delta(y, good, noise, f, metric="nope")


def test_best_f1_threshold_tiny() -> None:
    # p = .1 .35 .4 .8 / y = 0 1 0 1: t=.1 -> 4/6, t=.35 -> 4/5, t=.4 -> 2/4, t=.8 -> 2/3.
    assert best_f1_threshold([0, 1, 0, 1], [0.1, 0.35, 0.4, 0.8]) == pytest.approx((0.35, 0.8))
    # p = .2 .4 .6 .8 / y = 1 0 0 1: t=.2 -> 4/6, t=.4 -> 2/5, t=.6 -> 2/4, t=.8 -> 2/3.
    # 4/6 == 2/3 is a tie: the larger threshold wins.
    assert best_f1_threshold([1, 0, 0, 1], [0.2, 0.4, 0.6, 0.8]) == pytest.approx((0.8, 2 / 3))


def test_threshold_sweep_tiny() -> None:
    y, p = [0, 1, 0, 1], [0.1, 0.35, 0.4, 0.8]
    sw = threshold_sweep(y, p, np.array([0.1, 0.35, 0.5, 0.9]))
    assert list(sw.columns) == ["threshold", "precision", "recall", "f1", "n_kept"]
    assert sw["n_kept"].tolist() == [4, 3, 1, 0]
    assert sw["precision"].tolist()[:3] == pytest.approx([0.5, 2 / 3, 1.0])
    assert sw["recall"].tolist() == pytest.approx([1.0, 1.0, 0.5, 0.0])
    assert math.isnan(sw["precision"].iloc[3])  # nothing kept
    assert len(threshold_sweep(y, p)) == 99


def test_one_threshold_sweep_for_training_and_the_report() -> None:
    """The report's F1-best threshold is a point of the curve training chooses on."""
    from relevance.model.metrics import threshold_curve
    from relevance.model.threshold import choose_threshold

    rng = np.random.default_rng(5)
    y = (rng.random(300) < 0.4).astype(int)
    p = np.round(np.clip(0.35 * y + 0.65 * rng.random(300), 0, 1), 2)
    t, _, _, f1 = threshold_curve(y, p)
    best_t, best = best_f1_threshold(y, p)
    assert best_t == t[np.argmax(f1)] and best == f1.max()
    assert choose_threshold(y, p).f1 == best  # training's F1 objective: the same maximum
