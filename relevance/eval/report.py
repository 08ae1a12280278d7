"""Render an ``Evaluation`` as metrics.json, report.md and one self-contained report.html.

Both documents are built from the same table objects, so the Markdown a pull request shows
and the HTML page can never disagree. The HTML inlines its CSS and figures (data: URIs):
it opens from disk, offline, with no script, font or image fetched from anywhere.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from relevance.eval import plots
from relevance.eval.evaluation import Evaluation, LevelEvaluation
from relevance.eval.measures import AT_THRESHOLD, CALIBRATION, FEED_LEVEL, GRADED, RANKING
from relevance.extras import require
from relevance.io.files import write_atomic

jinja2 = require("jinja2", "report")

TEMPLATES = Path(__file__).resolve().parent / "templates"
LABELS = {
    "average_precision": "average precision",
    "roc_auc": "ROC-AUC",
    "ndcg@5": "nDCG@5",
    "ndcg@10": "nDCG@10",
    "graded_ndcg@5": "nDCG@5, graded gains",
    "graded_ndcg@10": "nDCG@10, graded gains",
    "map": "MAP (per feed)",
    "mrr": "MRR",
    "group_auc": "group AUC",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "mcc": "MCC",
    "feeds_dropping_relevant": "feeds dropping a relevant item",
    "brier": "Brier (lower is better)",
    "ece": "ECE, 10 bins (lower is better)",
}
GROUPS = (
    ("item ranking", ("average_precision", "roc_auc")),
    ("feed ranking", (*GRADED, *(k for k in RANKING if k in FEED_LEVEL))),
    ("at the trained threshold", AT_THRESHOLD),
    ("calibration", CALIBRATION),
)
DASH = "—"
#: The side-by-side table: the figures the issue of two levels turns on.
SIDE_BY_SIDE = ("average_precision", "graded_ndcg@5", "graded_ndcg@10", "f1", "precision",
                "recall", "ece", "brier")  # fmt: skip
LEVEL_TEXT = {"story": "story level (the same story)", "topic": "topic level (story or related)"}


@dataclass
class Cell:
    """A figure and, optionally, its 95% interval (shown smaller in HTML)."""

    value: str
    ci: str = ""

    def markdown(self) -> str:
        text = f"{self.value} [{self.ci}]" if self.ci else self.value
        return text.replace("\\", "\\\\").replace("|", "\\|").replace("\n", " ")


@dataclass
class Table:
    """Headers, rows of cells, and a one-line 'how to read this'."""

    title: str
    how: str
    headers: list[str]
    rows: list[list[Cell]]
    numeric: list[bool] = field(default_factory=list)  # right-align these columns
    group_rows: dict[int, str] = field(default_factory=dict)  # row index -> group heading


def _num(v: Any, digits: int = 3) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return DASH
    if isinstance(v, int | np.integer):
        return f"{int(v):,}"
    return f"{float(v):.{digits}f}"


def _ci(pair: Any, digits: int = 3) -> str:
    if not pair or any(v is None or math.isnan(v) for v in pair):
        return ""
    return f"{pair[0]:.{digits}f}, {pair[1]:.{digits}f}"


def _cell(metrics: dict, key: str) -> Cell:
    if key not in metrics:
        return Cell(DASH)
    return Cell(_num(metrics[key]), _ci(metrics.get("ci95", {}).get(key)))


def _short(text: str, n: int = 160) -> str:
    text = " ".join(str(text).split())
    return text if len(text) <= n else text[: n - 1] + "…"


# ----------------------------------------------------------------------------- tables


def summary_table(ev: LevelEvaluation) -> Table:
    systems = ev.metrics["systems"]
    order = list(ev.names)
    rows, groups = [], {}
    for group, keys in GROUPS:
        groups[len(rows)] = group
        for key in keys:
            rows.append([Cell(LABELS[key]), *(_cell(systems[s], key) for s in order)])
    if "compare" in systems:
        d = systems["compare"]["delta_average_precision"]
        groups[len(rows)] = "model minus compared model"
        cell = Cell(f"{d['delta']:+.4f}", _ci(d["ci95"], 4))
        rows.append(
            [Cell("Δ average precision"), cell, Cell(f"p = {_num(d['p_value'])}")]
            + [Cell("")] * (len(order) - 2)
        )
    return Table(
        title=f"Summary, {LEVEL_TEXT[ev.level]}",
        how="Each cell is the figure on all feeds and, in brackets, its 95% interval from "
        "resampling whole feeds. Higher is better except Brier and ECE; a dash means the metric "
        "does not apply (a cosine is not a probability and has no trained threshold).",
        headers=["metric", *(ev.names[s] for s in order)],
        rows=rows,
        numeric=[False, *([True] * len(order))],
        group_rows=groups,
    )


def confusion_table(ev: LevelEvaluation) -> Table:
    rows = []
    for key in ev.thresholds:
        m = ev.metrics["systems"][key]
        rows.append(
            [Cell(ev.names[key]), Cell(_num(m["threshold"]))]
            + [Cell(_num(m[k])) for k in ("tp", "fp", "fn", "tn")]
        )
    return Table(
        title=f"Confusion counts, {ev.level} level",
        how="Items kept (probability ≥ threshold) or dropped, against their labels: "
        "false positives are off-topic items shown, false negatives relevant items hidden.",
        headers=[
            "system",
            "threshold",
            "kept, relevant (TP)",
            "kept, off-topic (FP)",
            "dropped, relevant (FN)",
            "dropped, off-topic (TN)",
        ],
        rows=rows,
        numeric=[False, True, True, True, True, True],
    )


def threshold_table(ev: LevelEvaluation) -> Table:
    ta = ev.metrics["threshold_analysis"]
    rows = []
    for name, label in (
        ("trained", "trained (from the model)"),
        ("best_f1", "F1-best on this data"),
    ):
        at = ta["at"][name]
        rows.append(
            [
                Cell(label),
                Cell(_num(at["threshold"])),
                Cell(_num(at["precision"])),
                Cell(_num(at["recall"])),
                Cell(_num(at["f1"])),
                Cell(_num(at["n_kept"])),
            ]
        )
    for rec in ta["sweep"]:
        if round(rec["threshold"] * 100) % 10 == 0:
            rows.append(
                [
                    Cell(""),
                    Cell(_num(rec["threshold"], 2)),
                    Cell(_num(rec["precision"])),
                    Cell(_num(rec["recall"])),
                    Cell(_num(rec["f1"])),
                    Cell(_num(rec["n_kept"])),
                ]
            )
    return Table(
        title=f"Threshold analysis, {ev.level} level",
        how="The model keeps an item when its probability reaches the threshold learnt in "
        "training. The F1-best threshold is tuned on this very data, so its F1 is optimistic; "
        "a big gap between the two says the trained threshold does not transfer.",
        headers=["threshold", "value", "precision", "recall", "F1", "items kept"],
        rows=rows,
        numeric=[False, True, True, True, True, True],
        group_rows={0: "the two operating points", 2: "sweep"},
    )


def slice_tables(ev: LevelEvaluation) -> list[Table]:
    return [slice_table(ev, sl) for sl in ev.metrics.get("slices", {}).values()]


def slice_table(ev: LevelEvaluation, sl: dict) -> Table:
    feed_keys = ["ndcg@10", "feeds_dropping_relevant"] if sl["feed_level"] else []
    keys = ["average_precision", "roc_auc", "precision", "recall", "f1", *feed_keys]
    others = [s for s in ev.names if s != "model"]
    rows = []
    for r in sl["rows"]:
        m = r["model"] | {"ci95": r["ci95"]}
        rows.append(
            [
                Cell(_short(r["value"], 60)),
                Cell(_num(r["n_feeds"])),
                Cell(_num(r["n_items"])),
                Cell(_num(r["n_relevant"])),
                Cell(_num(r["kept_share"]), _ci(r["ci95"]["kept_share"])),
            ]
            + [_cell(m, k) for k in keys]
            + [Cell(_num(r["average_precision"][s])) for s in others]
        )
    level = "whole feeds" if sl["feed_level"] else "items within feeds"
    return Table(
        title=f"Slices by {sl['field']}, {ev.level} level",
        how=f"Slices hold {level} (field from the {sl['source']} level). Model metrics at the "
        "trained threshold with 95% intervals; 'kept' is the share of the slice's items kept, "
        "which is the recall of an all-relevant slice and the false-positive rate of an "
        "all-off-topic one (there AP, precision and F1 are fixed by construction, so shown as "
        "a dash). The last columns give the other systems' average precision.",
        headers=["value", "feeds", "items", "relevant", "kept"]
        + [LABELS[k] for k in keys]
        + [f"AP {ev.names[s]}" for s in others],
        rows=rows,
        numeric=[False] + [True] * (4 + len(keys) + len(others)),
    )


def error_tables(ev: LevelEvaluation) -> list[Table]:
    tables = []
    how = {
        "false_positives": "Off-topic items the model kept, most confident first, with the "
        "article sentence closest to the item: usually the shared name that misled it.",
        "false_negatives": "Relevant items the model dropped, least probable first, with the "
        "article sentence closest to the item.",
    }
    for key, title in (
        ("false_positives", f"Worst false positives, {ev.level} level"),
        ("false_negatives", f"Worst false negatives, {ev.level} level"),
    ):
        rows = [
            [
                Cell(_num(e["probability"])),
                Cell(f"{e['rank']}/{e['feed_size']}"),
                Cell(_short(e["article_title"], 110)),
                Cell(_short(e["item_title"], 110)),
                Cell(_short(e["best_sentence"], 200)),
                Cell(f"{e['feed_id']} / {e['item_id']}"),
            ]
            for e in ev.metrics["errors"][key]
        ]
        tables.append(
            Table(
                title=title,
                how=how[key],
                headers=[
                    "probability",
                    "rank",
                    "article",
                    "item",
                    "best-matching article sentence",
                    "feed / item",
                ],
                rows=rows,
                numeric=[True, True, False, False, False, False],
            )
        )
    return tables


def levels_table(ev: Evaluation) -> Table:
    """Both levels side by side: for each, the model, a compared model and the baselines."""
    columns = [(lv, name) for lv, e in ev.levels.items() for name in e.names]
    rows = []
    for key in SIDE_BY_SIDE:
        cells = [_cell(ev.levels[lv].metrics["systems"][name], key) for lv, name in columns]
        rows.append([Cell(LABELS[key]), *cells])
    return Table(
        title="The levels side by side",
        how="Each level on its own labels: story = the same story (grade 2), topic = the same "
        "or a related story (grade >= 1). nDCG with graded gains counts a related story half as "
        "much as the same story (gains 2^grade - 1). F1, precision and recall at each level's "
        "trained threshold. Brackets: 95% intervals from resampling whole feeds.",
        headers=["metric", *(f"{lv}: {ev.levels[lv].names[name]}" for lv, name in columns)],
        rows=rows,
        numeric=[False, *([True] * len(columns))],
    )


def all_tables(ev: Evaluation) -> dict[str, Any]:
    return {
        "levels": levels_table(ev),
        "per_level": {
            lv: {
                "summary": summary_table(e),
                "confusion": confusion_table(e),
                "threshold": threshold_table(e),
                "slices": slice_tables(e),
                "errors": error_tables(e),
            }
            for lv, e in ev.levels.items()
        },
    }


# ----------------------------------------------------------------------------- documents


def _versus(e: LevelEvaluation) -> str:
    """The model against each other system, saying better only when the interval says so."""
    parts = []
    for name, d in e.metrics.get("deltas", {}).items():
        lo, hi = d["ci95"]
        verdict = "better" if lo > 0 else "worse" if hi < 0 else "no clear difference"
        parts.append(f"vs {e.names[name]} ΔAP {d['delta']:+.3f} [{_ci(d['ci95'])}]: {verdict}")
    return "; ".join(parts)


def facts(ev: Evaluation) -> dict[str, Any]:
    """The header lines: what was evaluated, on what, and a warning if it is in-sample."""
    d, boot = ev.metrics["data"], ev.metrics["bootstrap"]
    models = ev.metrics.get("models", {})
    in_sample = [k for k, m in models.items() if m.get("in_sample")]
    headline = []
    for lv, e in ev.levels.items():
        m = e.metrics["systems"]["model"]
        headline.append(
            f"{LEVEL_TEXT[lv]}: model average precision {_num(m['average_precision'])} "
            f"[{_ci(m['ci95']['average_precision'])}]; {_versus(e)}."
        )
    grades = d.get("grades")
    counts = (
        f"grades 2/1/0: {grades['2']:,}/{grades['1']:,}/{grades['0']:,}"
        if grades
        else f"{d['n_relevant']:,} relevant"
    )
    names = {"model": "relevance model", "compare": "compared model"}
    warning = ""
    if in_sample:
        parts = []
        for k in in_sample:
            info = models[k]["in_sample_feeds"]
            parts.append(
                f"{info['n_feeds']:,} of {info['n_feeds_total']:,} feeds "
                f"({info['share_feeds']:.0%}) have an article the {names[k]} was trained on"
            )
        warning = (
            f"In-sample: {'; '.join(parts)}. Figures on those feeds overstate how the model "
            "does on new feeds."
        )
        oos = ev.metrics.get("out_of_sample")
        if oos:
            m = {lv: x["systems"]["model"] for lv, x in oos["levels"].items()}
            figures = ", ".join(
                f"{lv} AP {_num(v['average_precision'])} [{_ci(v['ci95']['average_precision'])}]"
                for lv, v in m.items()
            )
            warning += f" On the other {oos['data']['n_feeds']:,} feeds alone: {figures}."
        else:
            warning += " Every feed is in-sample: there is no out-of-sample part to measure."
    return {
        "data": f"{d['n_feeds']:,} feeds, {d['n_items']:,} items, {counts} "
        f"(data sha256 {d['sha256'][:12]}…)",
        "models": [
            f"{names[k]}: {m.get('id') or m.get('path') or '(in memory)'}, thresholds "
            + ", ".join(f"{lv} {t:.3f}" for lv, t in m["thresholds"].items())
            + f", embedder {m['embedder']}"
            for k, m in models.items()
        ],
        "bootstrap": f"{boot['n_resamples']:,} resamples of whole feeds, seed {boot['seed']}",
        "headline": headline,
        "warning": warning,
    }


def _md_table(t: Table) -> str:
    out = [f"## {t.title}", "", f"_{t.how}_", ""]
    out.append("| " + " | ".join(t.headers) + " |")
    aligns = t.numeric or [False] * len(t.headers)
    out.append("|" + "|".join("---:" if a else "---" for a in aligns) + "|")
    for i, row in enumerate(t.rows):
        if i in t.group_rows:
            out.append(f"| **{t.group_rows[i]}** |" + " |" * (len(t.headers) - 1))
        out.append("| " + " | ".join(c.markdown() for c in row) + " |")
    if not t.rows:
        out.append("| none |" + " |" * (len(t.headers) - 1))
    return "\n".join(out) + "\n"


def render_markdown(ev: Evaluation, tables: dict[str, Any] | None = None) -> str:
    tables = tables or all_tables(ev)
    f = facts(ev)
    lines = ["# Relevance evaluation", ""]
    if f["warning"]:
        lines += [f"> **Warning.** {f['warning']}", ""]
    lines += [
        *(f"- {h}" for h in f["headline"]),
        f"- data: {f['data']}",
        *(f"- {m}" for m in f["models"]),
        f"- intervals: 95%, {f['bootstrap']}",
        "",
    ]
    order = [tables["levels"]]
    for per in tables["per_level"].values():
        order += [per["summary"], per["confusion"], per["threshold"], *per["slices"]]
        order += per["errors"]
    return "\n".join(lines) + "\n" + "\n".join(_md_table(t) for t in order)


def figures(ev: LevelEvaluation) -> dict[str, str]:
    systems = ev.metrics["systems"]
    ap = {k: systems[k]["average_precision"] for k in ev.scores}
    auc = {k: systems[k]["roc_auc"] for k in ev.scores}
    probs = {k: ev.scores[k] for k in ev.thresholds}
    ta = ev.metrics["threshold_analysis"]
    return {
        "pr": plots.to_data_uri(plots.pr_curves(ev.y, ev.scores, ev.names, ap)),
        "roc": plots.to_data_uri(plots.roc_curves(ev.y, ev.scores, ev.names, auc)),
        "reliability": plots.to_data_uri(plots.reliability(ev.y, probs, ev.names)),
        "histograms": plots.to_data_uri(plots.histograms(ev.y, ev.scores, ev.names)),
        "threshold": plots.to_data_uri(
            plots.threshold_plot(
                ev.y, ev.scores["model"], ta["trained_threshold"], ta["best_f1_threshold"]
            )
        ),
    }


def render_html(ev: Evaluation, tables: dict[str, Any] | None = None) -> str:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    return env.get_template("report.html.j2").render(
        facts=facts(ev),
        tables=tables or all_tables(ev),
        figures={lv: figures(e) for lv, e in ev.levels.items()},
        level_text=LEVEL_TEXT,
    )


def write_report(ev: Evaluation, out: str | Path) -> dict[str, Path]:
    """metrics.json, report.md and report.html in ``out`` (created), each written atomically."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    tables = all_tables(ev)
    paths = {name: out / name for name in ("metrics.json", "report.md", "report.html")}
    write_atomic(paths["metrics.json"], ev.to_json())
    write_atomic(paths["report.md"], render_markdown(ev, tables))
    write_atomic(paths["report.html"], render_html(ev, tables))
    return paths
