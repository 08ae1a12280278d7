"""The model card: README.md of a model folder, rendered from its config.json alone.

Rendering only from the config keeps the card deterministic (same config, same
bytes) and always in step with the model. It follows the Hugging Face model-card
conventions: YAML front matter (licence, language, library, base model, data sets,
metrics, tags, and the held-out results as a model index), then intended use, how
to use, training data, held-out figures at both levels, and limitations. The card
is listed in config.json's hashes like every other file: it shows every hash but its
own, so it is rendered from the config without its own entry, then hashed into it.
Re-render it (and each backend's) with ``python -m relevance.train.card DIR``.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from relevance.io.files import sha256_file, write_atomic
from relevance.persistence.backends import register
from relevance.persistence.folder import CARD, CONFIG, dump_json

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
_LEVEL_TEXT = {
    "story": "the same story or ongoing event (for *more on this story* modules)",
    "topic": "this story or a related one (for *related* modules)",
}
_BASE_LICENCE = "all-MiniLM-L6-v2: Apache-2.0"


def _ordered(keys: dict) -> list[str]:
    """Known metrics in the order of _NAMES (JSON sorts keys), then any others."""
    return [k for k in _NAMES if k in keys] + sorted(k for k in keys if k not in _NAMES)


def _num(v: object, digits: int = 4) -> str:
    return "–" if v is None else f"{float(v):.{digits}f}"


def _ci(ci: list | None) -> str:
    if not ci or ci[0] is None:
        return "–"
    return f"{ci[0]:.4f} – {ci[1]:.4f}"


def _yaml_str(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)  # a JSON string is a valid YAML scalar


def _front_matter(c: dict) -> list[str]:
    t = c.get("training_data", {})
    ft = c.get("finetune")
    base = ft["base_model"] if ft else c["embedder"]["model"]
    out = [
        "---",
        "license: other",
        f"license_name: {_yaml_str('mixed: code MIT; ' + _BASE_LICENCE + '; data: see the card')}",
        "language:",
        "- en",
        "library_name: relevance",
        f"base_model: {_yaml_str(base)}",
        "pipeline_tag: text-classification",
        "tags:",
        *(f"- {tag}" for tag in ("news", "recommendation", "relevance", "sentence-transformers")),
    ]
    names = [f["name"] for f in t.get("file_details", [])]
    if names:
        out += ["datasets:", *(f"- {_yaml_str(n)}" for n in names)]
    out += ["metrics:", "- average_precision", "- f1", "- ndcg", "- ece"]
    held = (c.get("heldout") or {}).get("levels")
    if held:
        out += ["model-index:", f"- name: {_yaml_str('relevance')}", "  results:"]
        for level, s in held.items():
            out += [
                "  - task:",
                "      type: text-classification",
                f"      name: {_yaml_str(f'{level}-level relevance')}",
                "    dataset:",
                f"      name: {_yaml_str('held-out stories of the training data')}",
                "      type: held-out",
                "    metrics:",
            ]
            for key in ("average_precision", "f1", "ndcg@5", "brier"):
                if s["metrics"].get(key) is not None:
                    out += [
                        f"    - type: {key}",
                        f"      value: {round(float(s['metrics'][key]), 4)}",
                    ]
    return [*out, "---"]


def _summary(c: dict) -> list[str]:
    t = c.get("training_data", {})
    ft = " with a fine-tuned embedder" if c.get("finetune") else ""
    levels = ", ".join(f"`{lv}` (threshold {c['thresholds'][lv]:.4f})" for lv in c["levels"])
    out = [
        "# Relevance model card",
        "",
        f"Topic-relevance classifier for news recommendation feeds{ft}, trained on "
        f"{t.get('n_feeds')} labelled feeds ({t.get('n_items')} items). Levels: {levels}; "
        f"default level `{c['default_level']}`.",
    ]
    if c.get("command"):
        out += [
            "",
            "Rebuild (same data and library versions give a byte-identical folder):",
            "",
            "```bash",
            c["command"],
            "```",
        ]
    return out


def _intended_use(c: dict) -> list[str]:
    out = [
        "## Intended use",
        "",
        "Scores the recommended stories under a news article. Each item gets a calibrated "
        "probability per level, a keep/drop decision from that level's trained threshold and a "
        "rank within its feed:",
        "",
    ]
    out += [f"- `p_{lv}`: the item is {_LEVEL_TEXT[lv]}" for lv in c["levels"]]
    out += [
        "",
        "It is meant for filtering and ordering recommendation feeds of English news, with a "
        "person or a monitored metric watching the outcome. It is not a fact checker and does "
        "not judge the quality, safety or bias of an item.",
    ]
    return out


def _how_to_use(c: dict) -> list[str]:
    level = c["default_level"]
    return [
        "## How to use",
        "",
        "```bash",
        "relevance score page.txt --model DIR                     # ranked table",
        f"relevance score feeds.jsonl --model DIR --level {level} -o scores.parquet",
        "```",
        "",
        "```python",
        "import relevance",
        "",
        "model = relevance.load_model(DIR)",
        'ranked = model.rank("Article title. Article text ...", ["headline one", "headline two"])',
        "```",
    ]


def _data(c: dict) -> list[str]:
    t = c.get("training_data", {})
    out = ["## Training data", ""]
    for f in t.get("file_details", []):
        out.append(
            f"- `{f['name']}` ({f['format']}): {f['n_feeds']} feeds, {f['n_items']} items, "
            f"sha256 `{f['sha256']}`"
        )
    grades = t.get("grades")
    counts = (
        f"grades 2 / 1 / 0: {grades['2']} / {grades['1']} / {grades['0']}"
        if grades
        else f"{t.get('n_relevant')} same-story items (labels only: story level)"
    )
    out.append(f"- in all: {t.get('n_feeds')} feeds, {t.get('n_items')} items, {counts}")
    out.append(f"- combined sha256 `{t.get('sha256')}`")
    for meta in t.get("meta") or []:
        out.append(f"- meta file `{meta['name']}`, sha256 `{meta['sha256']}`")
    out.append(
        f"- folds grouped by `{t.get('group_by')}` ({t.get('n_groups')} groups): every "
        "out-of-fold figure is on groups the fold's model never saw"
    )
    out += ["", "Provenance and licences:", ""]
    prov = t.get("provenance")
    if not prov:
        out.append("- unknown (no `provenance` field in a meta file)")
    for p in prov or []:
        out.append("- " + "; ".join(f"{k}: {p[k]}" for k in sorted(p)))
    out.append(f"- base embedder {_BASE_LICENCE}")
    if prov:
        out += [
            "",
            "Keep this attribution wherever the data or text derived from it is copied. News "
            "texts remain their publishers' work (research use).",
        ]
    return out


def _model(c: dict) -> list[str]:
    e = c["embedder"]
    ft = c.get("finetune")
    where = f"`{e['model']}/` (fine-tuned, stored in this folder)" if ft else f"`{e['model']}`"
    out = [
        "## Model",
        "",
        f"- embedder {where}, weights sha256 `{e['sha256']}`, {e['max_tokens']}-token windows, "
        f"backend {e.get('backend', 'torch')}",
    ]
    if ft:
        s = ft["settings"]
        out.append(
            f"- fine-tuned from `{ft['base_model']}` (sha256 `{ft['base_sha256']}`) on "
            f"{ft['n_examples']} examples of all training feeds with {ft['loss']}: "
            f"{s['epochs']} epoch(s), batch {s['batch_size']}, learning rate "
            f"{s['learning_rate']}, warm-up {s['warmup']:.0%}, seed {s['seed']}"
            + (f", max {s['max_steps']} steps" if s["max_steps"] > 0 else "")
            + f"; weights stored as {ft['weights_dtype']} safetensors, loaded as float32"
        )
    out.append(
        f"- {len(c['features'])} features per (article, item): cosines with the whole article, "
        "its title, lead, best window and best sentences; TF-IDF cosine; IDF-weighted names and "
        "numbers shared with the article and its lead; each also relative to its feed; "
        "neighbour support"
        + (
            "; and each again times the article's longness (0 for a blurb, 1 for a full "
            "article), with the longness itself"
            if c["params"].get("length_features")
            else ""
        )
    )
    out.append(
        "- head: continuation-ratio ordinal model, P(topic) then P(story | topic), each a "
        f"standardised L2 logistic regression (C = {c['params']['C']})"
        if "topic" in c["levels"]
        else f"- head: standardised L2 logistic regression (C = {c['params']['C']})"
    )
    for stage, cal in sorted(c["calibration"].items()):
        briers = ", ".join(f"{m} {_num(b)}" for m, b in sorted(cal["cv_brier"].items()))
        out.append(
            f"- calibration of `{stage}`: **{cal['method']}** (cross-validated Brier: {briers})"
        )
    for level, ch in c["threshold_choices"].items():
        out.append(
            f"- `{level}` threshold **{ch['threshold']:.4f}** ({ch['objective']}): out-of-fold "
            f"precision {_num(ch['precision'], 3)}, recall {_num(ch['recall'], 3)}, "
            f"F1 {_num(ch['f1'], 3)}"
        )
    return out


def _level_table(by_level: dict[str, dict]) -> list[str]:
    levels = list(by_level)
    rows = ["| metric | " + " | ".join(levels) + " |", "|---|" + "---|" * len(levels)]
    keys = _ordered(next(iter(by_level.values()))["metrics"])
    for key in keys:
        cells = [
            f"{_num(s['metrics'].get(key))} ({_ci(s['ci95'].get(key))})" for s in by_level.values()
        ]
        rows.append(f"| {_NAMES.get(key, key)} | " + " | ".join(cells) + " |")
    rows.append(
        "| threshold | " + " | ".join(f"{s['threshold']:.4f}" for s in by_level.values()) + " |"
    )
    return rows


def _heldout(c: dict) -> list[str]:
    h = c.get("heldout")
    if not h:
        return []
    if "skipped" in h:
        return ["## Held-out stories", "", f"Not measured: {h['skipped']}"]
    s = h["split"]
    out = [
        "## Held-out stories",
        "",
        f"Held out: {s['rule']}: {s['n_groups_heldout']} groups, {s['n_feeds_heldout']} feeds, "
        f"{s['n_items_heldout']} items. The same recipe"
        + (" (the embedder fine-tuned too)" if c.get("finetune") else "")
        + f" was fitted on the other {s['n_groups_train']} groups only and scored on these; "
        "95% intervals from resampling whole feeds:",
        "",
        *_level_table(h["levels"]),
    ]
    ft = (c.get("finetune") or {}).get("heldout")
    if ft:
        out += ["", "Fine-tuned against frozen embedder on the same held-out feeds:", ""]
        for level, cmp_ in ft["levels"].items():
            d = cmp_["delta_average_precision"]
            out.append(
                f"- {level}: AP {_num(cmp_['new']['metrics']['average_precision'])} vs "
                f"{_num(cmp_['old']['metrics']['average_precision'])}, delta {d['delta']:+.4f} "
                f"(95% CI {d['ci95'][0]:+.4f} to {d['ci95'][1]:+.4f}): {ft['verdicts'][level]}"
            )
    return out


def _cv(c: dict) -> list[str]:
    m = c["metrics"]
    p = c["params"]
    out = [
        "## Cross-validated metrics",
        "",
        f"{p['n_splits']} folds grouped by `{c.get('training_data', {}).get('group_by')}`, "
        f"seed {p['random_state']}; out-of-fold calibrated probabilities at each level's "
        "threshold.",
    ]
    if c.get("finetune"):
        out += [
            "",
            "**Optimistic:** the embedder was fine-tuned on all training stories, including each "
            "fold's test stories; on new stories expect the held-out figures above.",
        ]
    oof = {lv: s["oof"] for lv, s in m.get("levels", {}).items() if "oof" in s}
    if oof:
        out += ["", *_level_table(oof)]
    for level, s in m.get("levels", {}).items():
        base = s.get("oof_baseline_average_precision", {})
        if base:
            out.append(
                f"- {level} baselines, out-of-fold AP: "
                + ", ".join(f"{k} {_num(v)}" for k, v in sorted(base.items()))
            )
    return out


def _evaluation(c: dict) -> list[str]:
    out: list[str] = []
    ev = c.get("evaluation")
    if ev:
        files = ", ".join(f"`{f['name']}`" for f in ev["files"])
        out += ["## Evaluation (--eval)", "", f"On {files}:", "", *_level_table(ev["levels"])]
    cmp_ = c.get("comparison")
    if cmp_:
        out += ["", "## Comparison", "", f"Against `{cmp_['against']}` on the same data:", ""]
        for level, x in cmp_["levels"].items():
            d = x["delta_average_precision"]
            out.append(
                f"- {level}: delta AP {d['delta']:+.4f} (95% CI {d['ci95'][0]:+.4f} to "
                f"{d['ci95'][1]:+.4f})"
            )
        out.append(f"- not worse: {'yes' if cmp_['not_worse'] else 'no'} ({cmp_['rule']})")
    return out


def _limitations(c: dict) -> list[str]:
    return [
        "## Limitations",
        "",
        "- English only: the embedder, the sentence splitter, the name finder and the TF-IDF "
        "vocabulary were built for English text.",
        f"- The embedder reads {c['embedder']['max_tokens']} tokens at a time; long articles are "
        "split into overlapping windows of whole sentences, and every window counts (the whole "
        "article, the lead, the best window and the best sentences).",
        "- What is *related* follows the training data: Wikipedia story headings (sibling "
        "stories of one storyline) and ECB+ look-alike events. Other editorial ideas of "
        "related may differ; measure on your own feeds with `relevance evaluate`.",
        "- Figures hold for data like the training data; check the thresholds on your own feeds "
        "before relying on them.",
    ]


def _files(c: dict) -> list[str]:
    out = ["## Files", "", "Verified against these sha256 at load time:", ""]
    out += [f"- `{name}` `{sha}`" for name, sha in sorted(c["files"].items()) if name != CARD]
    out += ["", "## Versions", "", *(f"- {k} {v}" for k, v in sorted(c["versions"].items()))]
    return out


def render_card(config: dict) -> str:
    """The whole card as Markdown; a pure function of the config."""
    sections = [
        _front_matter(config),
        _summary(config),
        _intended_use(config),
        _how_to_use(config),
        _data(config),
        _model(config),
        _heldout(config),
        _cv(config),
        _evaluation(config),
        _limitations(config),
        _files(config),
    ]
    return "\n\n".join("\n".join(s) for s in sections if s).replace("\n\n\n", "\n\n") + "\n"


def write_card(folder: str | Path) -> Path:
    """Render the card of ``folder`` and of each of its backends, and hash each into its config.

    A backend's card is written first: the root's manifest hashes it, and the root's card
    lists that hash.
    """
    folder = Path(folder)
    config = json.loads((folder / CONFIG).read_text(encoding="utf-8"))
    for backend, rel in sorted(config.get("backends", {}).items()):
        _write_one(folder / rel)
        register(folder, backend)
    return _write_one(folder)


def _write_one(folder: Path) -> Path:
    config_path = folder / CONFIG
    config = json.loads(config_path.read_text(encoding="utf-8"))
    path = folder / CARD
    write_atomic(path, render_card(config))
    config["files"][CARD] = sha256_file(path)
    write_atomic(config_path, dump_json(config))
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Re-render a model folder's README.md card.")
    parser.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    print(write_card(args.folder))
    return 0


if __name__ == "__main__":
    sys.exit(main())
