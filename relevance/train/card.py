"""The model card: README.md of a model folder, rendered from its config.json alone.

Rendering only from the config keeps the card deterministic (same config, same
bytes) and always in step with the model. The card is documentation, so it is
not listed in config.json's hashes (it could not be: it shows them); re-render
it with ``python -m relevance.train.card DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from relevance.io.files import write_atomic

CARD = "README.md"

_NAMES = {
    "average_precision": "average precision",
    "roc_auc": "ROC-AUC",
    "brier": "Brier score",
    "precision": "precision",
    "recall": "recall",
    "f1": "F1",
    "ndcg@5": "nDCG@5",
    "map": "MAP (per feed)",
}


def _ordered(keys: dict) -> list[str]:
    """Known metrics in the order of _NAMES (JSON sorts keys), then any others."""
    return [k for k in _NAMES if k in keys] + sorted(k for k in keys if k not in _NAMES)


def _num(v: object, digits: int = 4) -> str:
    return "–" if v is None else f"{float(v):.{digits}f}"


def _ci(ci: list | None) -> str:
    if not ci or ci[0] is None:
        return "–"
    return f"{ci[0]:.4f} – {ci[1]:.4f}"


def _metric_table(summary: dict, title: str = "value") -> list[str]:
    rows = [f"| metric | {title} | 95% interval |", "|---|---|---|"]
    for key in _ordered(summary["metrics"]):
        value, ci = summary["metrics"][key], summary["ci95"].get(key)
        rows.append(f"| {_NAMES.get(key, key)} | {_num(value)} | {_ci(ci)} |")
    return rows


def _intended_use(c: dict) -> list[str]:
    return [
        "## Intended use",
        "",
        "Scores the recommended stories under a news article: each item gets a calibrated "
        "probability of being on the article's topic (the same news story), a keep/drop "
        "decision from the trained threshold and a rank within its feed. It is meant for "
        "filtering and ordering recommendation feeds of English news, with a person or a "
        "monitored metric watching the outcome; it is not a fact checker and does not judge "
        "quality, safety or bias of an item.",
    ]


def _data(c: dict) -> list[str]:
    t = c.get("training_data", {})
    out = ["## Training data", ""]
    for f in t.get("file_details", []):
        out.append(
            f"- `{f['name']}` ({f['format']}): {f['n_feeds']} feeds, {f['n_items']} items, "
            f"sha256 `{f['sha256']}`"
        )
    out.append(
        f"- in all: {t.get('n_feeds')} feeds, {t.get('n_items')} items, {t.get('n_relevant')} "
        f"relevant ({_num(t.get('relevant_share'), 3)}); combined sha256 `{t.get('sha256')}`"
    )
    meta = t.get("meta")
    if meta:
        out.append(f"- meta file `{meta['name']}`, sha256 `{meta['sha256']}`")
    out.append(
        f"- folds grouped by `{t.get('group_by')}` ({t.get('n_groups')} groups): every "
        "out-of-fold figure is on groups the fold's model never saw"
    )
    out += ["", "Provenance:", ""]
    prov = t.get("provenance")
    if not prov:
        out.append("- unknown (no `provenance` field in a meta file)")
    for p in prov or []:
        parts = [f"{k}: {p[k]}" for k in sorted(p)]
        out.append("- " + "; ".join(parts))
    if prov:
        out.append("")
        out.append("Keep this attribution wherever the data or text derived from it is copied.")
    return out


def _features(c: dict) -> list[str]:
    e = c["embedder"]
    ft = c.get("finetune")
    model = f"`{e['model']}/` (fine-tuned, stored in this folder)" if ft else f"`{e['model']}`"
    out = [
        "## Embedder and features",
        "",
        f"- embedder {model}, weights sha256 `{e['sha256']}`, {e['max_tokens']}-token window, "
        f"backend {e.get('backend', 'torch')}",
    ]
    if ft:
        s = ft["settings"]
        out.append(
            f"- fine-tuned from `{ft['base_model']}` (sha256 `{ft['base_sha256']}`) on "
            f"{ft['n_pairs']} (article, relevant item) pairs of all training feeds with "
            f"{ft['loss']}: {s['epochs']} epoch(s), batch {s['batch_size']}, learning rate "
            f"{s['learning_rate']}, warm-up {s['warmup']:.0%}, seed {s['seed']}"
            + (f", max {s['max_steps']} steps" if s["max_steps"] > 0 else "")
            + f" (articles cut to their first {s['max_tokens']} tokens for tuning)"
            + f"; weights stored as {ft['weights_dtype']} safetensors, loaded as float32"
        )
    out.append(f"- {len(c['features'])} features: " + ", ".join(f"`{f}`" for f in c["features"]))
    out.append("- head: standardised L2 logistic regression, C = " + str(c["params"]["C"]))
    return out


def _calibration_threshold(c: dict) -> list[str]:
    cal, ch = c["calibration"], c["threshold_choice"]
    briers = ", ".join(f"{m} {_num(b)}" for m, b in sorted(cal["cv_brier"].items()))
    p = c["params"]
    goal = {
        "f1": "maximise out-of-fold F1",
        "min_precision": f"highest recall with out-of-fold precision >= {p.get('min_precision')}",
        "min_recall": f"highest precision with out-of-fold recall >= {p.get('min_recall')}",
    }.get(ch["objective"], ch["objective"])
    return [
        "## Calibration, objective and threshold",
        "",
        f"- calibration: **{cal['method']}**, chosen by cross-validated Brier score "
        f"({briers}; lower is better)",
        f"- objective: {goal}",
        f"- threshold **{ch['threshold']:.4f}**: out-of-fold precision {_num(ch['precision'], 3)}, "
        f"recall {_num(ch['recall'], 3)}, F1 {_num(ch['f1'], 3)}",
    ]


def _cv(c: dict) -> list[str]:
    m = c["metrics"]
    p = c["params"]
    out = [
        "## Cross-validated metrics",
        "",
        f"{p['n_splits']} folds grouped by `{c.get('training_data', {}).get('group_by')}`, "
        f"seed {p['random_state']}; out-of-fold calibrated probabilities, threshold "
        f"{c['threshold']:.4f}; intervals from {m.get('bootstrap_resamples', 1000)} bootstrap "
        "resamples of whole feeds.",
        "",
    ]
    if c.get("finetune"):
        out += [
            "**Optimistic:** the embedder was fine-tuned on all training stories, including "
            "each fold's test stories, so these out-of-fold figures flatter the model, and the "
            "calibration and threshold were chosen on them. On new stories expect the figures "
            "of the held-out section below.",
            "",
        ]
    if "oof" in m:
        out += _metric_table(m["oof"], "out of fold")
    base = m.get("oof_baseline_average_precision", {})
    if base:
        out += [
            "",
            "Baselines, out-of-fold average precision: "
            + ", ".join(f"{k} {_num(v)}" for k, v in sorted(base.items())),
        ]
    out += [
        "",
        "Per fold (AP and ROC-AUC of the fold model's scores; F1, precision, recall and "
        "Brier of the calibrated probabilities at the threshold):",
        "",
        "| fold | items | relevant | AP | ROC-AUC | F1 | precision | recall | Brier |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for k, f in enumerate(m.get("folds", [])):
        out.append(
            f"| {k} | {f['n_items']} | {f.get('n_relevant', '–')} | "
            + " | ".join(
                _num(f.get(key))
                for key in ("average_precision", "roc_auc", "f1", "precision", "recall", "brier")
            )
            + " |"
        )
    spread = m.get("fold_spread", {})
    if spread:
        out += ["", "| over folds | mean | std | min | max |", "|---|---|---|---|---|"]
        for key in _ordered(spread):
            s = spread[key]
            out.append(
                f"| {_NAMES.get(key, key)} | {_num(s['mean'])} | {_num(s['std'])} | "
                f"{_num(s['min'])} | {_num(s['max'])} |"
            )
    return out


def _heldout(c: dict) -> list[str]:
    ft = c.get("finetune")
    if not ft or "heldout" not in ft:
        return []
    h = ft["heldout"]
    s, d = h["split"], h["delta_average_precision"]
    fro, tun = h["systems"]["frozen"], h["systems"]["finetuned"]
    rows = [
        "| metric | frozen | 95% interval | fine-tuned | 95% interval |",
        "|---|---|---|---|---|",
    ]
    for key in _ordered(fro["metrics"]):
        rows.append(
            f"| {_NAMES.get(key, key)} | {_num(fro['metrics'][key])} | {_ci(fro['ci95'][key])} | "
            f"{_num(tun['metrics'][key])} | {_ci(tun['ci95'][key])} |"
        )
    return [
        "## Did fine-tuning help? (stories held out)",
        "",
        f"Held out: {s['rule']} — {s['n_groups_heldout']} groups, {s['n_feeds_heldout']} feeds, "
        f"{s['n_items_heldout']} items ({s['n_relevant_heldout']} relevant). An embedder was "
        f"fine-tuned on the other {s['n_groups_train']} groups only ({h['n_pairs']} pairs, same "
        "settings), a head fitted there on tuned and on frozen embeddings, and both scored on the "
        "held-out feeds.",
        "",
        *rows,
        "",
        f"Fine-tuned minus frozen average precision: **{d['delta']:+.4f}** (95% CI "
        f"{d['ci95'][0]:+.4f} to {d['ci95'][1]:+.4f}, paired bootstrap by feed, one-sided p "
        f"{_num(d['p_value'], 3)}). Verdict: **{h['verdict']}**.",
    ]


def _evaluation(c: dict) -> list[str]:
    ev = c.get("evaluation")
    out: list[str] = []
    if ev:
        files = ", ".join(f"`{f['name']}` (sha256 `{f['sha256'][:12]}…`)" for f in ev["files"])
        out += [
            "## Evaluation",
            "",
            f"On {files}: {ev['n_feeds']} feeds, {ev['n_items']} items "
            f"({ev['n_relevant']} relevant), none of whose item texts is in the training data; "
            f"at the threshold {ev['threshold']:.4f}.",
            "",
            *_metric_table(ev),
        ]
    cmp_ = c.get("comparison")
    if cmp_:
        d = cmp_["delta_average_precision"]
        out += [
            "",
            "## Comparison",
            "",
            f"Against `{cmp_['against']}` (config.json sha256 "
            f"`{cmp_['against_config_sha256'][:12]}…`) on the same data: average precision "
            f"{_num(cmp_['new']['metrics']['average_precision'])} vs "
            f"{_num(cmp_['old']['metrics']['average_precision'])}, delta {d['delta']:+.4f} "
            f"(95% CI {d['ci95'][0]:+.4f} to {d['ci95'][1]:+.4f}). Better: "
            f"{'yes' if cmp_['better'] else 'not shown'}; not worse: "
            f"{'yes' if cmp_['not_worse'] else 'no'} ({cmp_['rule']}).",
        ]
    return out


def _limitations(c: dict) -> list[str]:
    tokens = c["embedder"]["max_tokens"]
    return [
        "## Limitations",
        "",
        "- English only: the embedder, the sentence splitter and the TF-IDF vocabulary were "
        "built for English text.",
        f"- The embedder reads {tokens} tokens at a time; long articles are split into "
        "overlapping windows of whole sentences whose embeddings are averaged, so a topic "
        "mentioned briefly in a long article weighs little.",
        "- Labels mean *same story* (1) versus *a different story* (0). Items about related but "
        "different stories were left out of the training labels, so the probability of such an "
        "item is not calibrated and the model has not learned where that boundary lies.",
        "- Figures hold for data like the training data (news blurbs of one period and source); "
        "check them on your own feeds with `relevance evaluate` before relying on the threshold.",
    ]


def _files(c: dict) -> list[str]:
    out = ["## Files", "", "Verified against these sha256 at load time:", ""]
    out += [f"- `{name}` `{sha}`" for name, sha in sorted(c["files"].items())]
    out += [
        "",
        f"`config.json` holds every figure above; this `{CARD}` is rendered from it and "
        "not hashed.",
    ]
    return out


def render_card(config: dict) -> str:
    """The whole card as Markdown; a pure function of the config."""
    t = config.get("training_data", {})
    ft = " with a fine-tuned embedder" if config.get("finetune") else ""
    head = [
        "# Relevance model card",
        "",
        f"Topic-relevance classifier for news recommendation feeds{ft}, trained on "
        f"{t.get('n_feeds')} labelled feeds ({t.get('n_items')} items). Threshold "
        f"{config['threshold']:.4f}; calibration {config['calibration']['method']}.",
    ]
    if config.get("command"):
        head += [
            "",
            "Rebuild (same data and library versions give a byte-identical folder):",
            "",
            "```bash",
            config["command"],
            "```",
        ]
    sections = [
        head,
        _intended_use(config),
        _data(config),
        _features(config),
        _calibration_threshold(config),
        _cv(config),
        _heldout(config),
        _evaluation(config),
        _limitations(config),
        _files(config),
        ["## Versions", "", *(f"- {k} {v}" for k, v in sorted(config["versions"].items()))],
    ]
    return "\n\n".join("\n".join(s) for s in sections if s).replace("\n\n\n", "\n\n") + "\n"


def write_card(folder: str | Path) -> Path:
    folder = Path(folder)
    config = json.loads((folder / "config.json").read_text(encoding="utf-8"))
    path = folder / CARD
    write_atomic(path, render_card(config))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-render a model folder's README.md card.")
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    print(write_card(args.folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
