"""Report figures as self-contained PNG data URIs (matplotlib, Agg, no pyplot state).

``matplotlib.figure.Figure`` renders with the Agg canvas directly, so nothing here touches
the global pyplot backend of a caller's session, and PNGs carry no timestamp.
"""

from __future__ import annotations

import base64
import io
from collections.abc import Mapping

import numpy as np
from sklearn.metrics import precision_recall_curve, roc_curve

from relevance.extras import require
from relevance.model.metrics import reliability_curve, threshold_sweep

Figure = require("matplotlib.figure", "report").Figure

COLORS = {
    "model": "#1f5fa8",
    "compare": "#8e44ad",
    "cosine": "#e07b00",
    "cosine_frozen": "#b8860b",
    "tfidf": "#2e8b57",
}
RELEVANT, OFF_TOPIC = "#1f5fa8", "#c0392b"
DPI = 110


def _figure(width: float = 5.2, height: float = 3.8) -> Figure:
    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    return fig


def _style(ax) -> None:
    ax.grid(True, color="#e3e3e3", linewidth=0.8)
    ax.set_axisbelow(True)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)


def to_data_uri(fig: Figure) -> str:
    """PNG bytes as a data: URI, so the HTML page needs no other file and no network."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def pr_curves(
    y: np.ndarray, scores: Mapping[str, np.ndarray], names: Mapping[str, str], ap: Mapping
) -> Figure:
    """Precision against recall for every system; the dotted line is the base rate."""
    fig = _figure()
    ax = fig.add_subplot()
    for key, s in scores.items():
        precision, recall, _ = precision_recall_curve(y, s)
        label = f"{names[key]} (AP {ap[key]:.3f})"
        ax.step(recall, precision, where="post", color=COLORS[key], label=label, linewidth=1.8)
    ax.axhline(float(np.mean(y)), color="#888", linestyle=":", linewidth=1, label="base rate")
    ax.set(xlabel="recall", ylabel="precision", xlim=(0, 1.01), ylim=(0, 1.02))
    ax.set_title("Precision-recall", loc="left", fontsize=11)
    ax.legend(loc="lower left", fontsize=8, frameon=False)
    _style(ax)
    return fig


def roc_curves(
    y: np.ndarray, scores: Mapping[str, np.ndarray], names: Mapping[str, str], auc: Mapping
) -> Figure:
    fig = _figure()
    ax = fig.add_subplot()
    for key, s in scores.items():
        fpr, tpr, _ = roc_curve(y, s)
        label = f"{names[key]} (AUC {auc[key]:.3f})"
        ax.plot(fpr, tpr, color=COLORS[key], label=label, linewidth=1.8)
    ax.plot([0, 1], [0, 1], color="#888", linestyle=":", linewidth=1, label="chance")
    ax.set(xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title("ROC", loc="left", fontsize=11)
    ax.legend(loc="lower right", fontsize=8, frameon=False)
    _style(ax)
    return fig


def reliability(y: np.ndarray, probs: Mapping[str, np.ndarray], names: Mapping[str, str]) -> Figure:
    """Observed share relevant per predicted-probability bin; item counts below."""
    fig = _figure(5.2, 4.6)
    top, bottom = fig.subplots(2, 1, sharex=True, height_ratios=[3, 1])
    top.plot([0, 1], [0, 1], color="#888", linestyle=":", linewidth=1, label="perfect")
    width = 0.1 / max(len(probs), 1)
    for i, (key, p) in enumerate(probs.items()):
        curve = reliability_curve(y, p, n_bins=10)
        used = curve["count"] > 0
        top.plot(
            curve["mean_predicted"][used],
            curve["fraction_positive"][used],
            marker="o",
            color=COLORS[key],
            label=names[key],
            linewidth=1.8,
        )
        bottom.bar(
            curve["lower"] + (i + 0.5) * width, curve["count"], width=width, color=COLORS[key]
        )
    top.set(ylabel="share relevant", xlim=(0, 1), ylim=(0, 1.02))
    top.set_title("Reliability (10 bins)", loc="left", fontsize=11)
    top.legend(loc="upper left", fontsize=8, frameon=False)
    bottom.set(xlabel="predicted probability", ylabel="items")
    bottom.set_yscale("symlog", linthresh=10)
    for ax in (top, bottom):
        _style(ax)
    return fig


def histograms(y: np.ndarray, scores: Mapping[str, np.ndarray], names: Mapping[str, str]) -> Figure:
    """Score distribution of relevant vs off-topic items, one panel per system."""
    n = len(scores)
    fig = _figure(2.9 * n, 2.9)
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, (key, s) in zip(axes, scores.items(), strict=True):
        bins = np.linspace(min(0.0, float(s.min())), max(1.0, float(s.max())), 26)
        for cls, color, label in ((0, OFF_TOPIC, "off-topic"), (1, RELEVANT, "relevant")):
            part = s[y == cls]
            if part.size:
                weights = np.full(part.size, 1.0 / part.size)
                ax.hist(part, bins=bins, weights=weights, color=color, alpha=0.55, label=label)
        ax.set_title(names[key], loc="left", fontsize=10)
        ax.set_xlabel("score")
        _style(ax)
    axes[0].set_ylabel("share of class")
    axes[0].legend(fontsize=8, frameon=False)
    return fig


def threshold_plot(y: np.ndarray, p: np.ndarray, trained: float, best: float) -> Figure:
    """Precision, recall and F1 as the keep threshold moves; both thresholds marked."""
    fig = _figure(6.4, 3.8)
    ax = fig.add_subplot()
    sweep = threshold_sweep(y, p, np.linspace(0.0025, 0.9975, 399))
    for col, color in (("precision", "#1f5fa8"), ("recall", "#e07b00"), ("f1", "#2e8b57")):
        ax.plot(sweep["threshold"], sweep[col], color=color, label=col, linewidth=1.8)
    ax.axvline(
        trained,
        color="#222",
        linestyle="--",
        linewidth=1.2,
        label=f"trained threshold {trained:.3f}",
    )
    if np.isfinite(best):
        ax.axvline(
            best, color="#c0392b", linestyle=":", linewidth=1.5, label=f"F1-best here {best:.3f}"
        )
    ax.set(xlabel="threshold (keep if probability ≥ threshold)", xlim=(0, 1), ylim=(0, 1.02))
    ax.set_title("Threshold sweep (relevance model)", loc="left", fontsize=11)
    ax.legend(loc="best", fontsize=8, frameon=False)
    _style(ax)
    return fig
