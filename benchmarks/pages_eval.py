"""Extraction figures of the HTML page reader on the fixture pages, against hand-made truth.

For each page in tests/fixtures/pages with a ``NAME.truth.json``: item recall and precision
(an extracted item matches a true one by its link, or by its headline: equal, or one
containing the other), the share of matched items given the true module heading, article
body token F1 (word tokens, multiset overlap), and whether the title and first sentence
came out. Prints a Markdown table (docs/pages.md) and, with ``--json``, writes the figures.

    python benchmarks/pages_eval.py [--json build/pages_eval.json]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections import Counter
from pathlib import Path

from relevance.io.html import read_html

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "tests" / "fixtures" / "pages"
_WORD = re.compile(r"\w+", re.UNICODE)


def norm(text: str) -> str:
    text = text.replace("\u2019", "'").replace("\u2018", "'").casefold()
    return " ".join(_WORD.findall(text))


def tokens(text: str) -> Counter:
    return Counter(_WORD.findall(text.casefold()))


def token_f1(got: str, want: str) -> float:
    g, w = tokens(got), tokens(want)
    common = sum((g & w).values())
    if not common:
        return 0.0
    p, r = common / sum(g.values()), common / sum(w.values())
    return 2 * p * r / (p + r)


def _key(href: str) -> str:
    return href.split("#", 1)[0].rstrip("/")


def _same_title(a: str, b: str) -> bool:
    a, b = norm(a), norm(b)
    if not a or not b:
        return False
    short, long_ = sorted((a, b), key=len)
    return a == b or (len(short) >= 12 and short in long_)


def match(truth: list[dict], got: list[dict]) -> list[tuple[int, int]]:
    """One-to-one pairs (truth index, extracted index): by link and module first, then title."""
    pairs, used = [], set()
    for rule in ("href+module", "href", "title"):
        for i, t in enumerate(truth):
            if any(i == p[0] for p in pairs):
                continue
            for j, g in enumerate(got):
                if j in used:
                    continue
                same_href = _key(t["href"]) == _key(g["href"])
                ok = {
                    "href+module": same_href and norm(t["module"]) == norm(g["module"]),
                    "href": same_href,
                    "title": _same_title(t["title"], g["title"]),
                }[rule]
                if ok:
                    pairs.append((i, j))
                    used.add(j)
                    break
    return pairs


def evaluate(page: Path) -> dict:
    truth = json.loads(page.with_suffix(".truth.json").read_text(encoding="utf-8"))
    start = time.perf_counter()
    parsed = read_html(page)
    seconds = time.perf_counter() - start
    got = [{"title": i.title, "href": i.href, "module": i.module} for i in parsed.items]
    pairs = match(truth["items"], got)
    modules = sum(norm(truth["items"][i]["module"]) == norm(got[j]["module"]) for i, j in pairs)
    n_true, n_got = len(truth["items"]), len(got)
    return {
        "page": page.stem,
        "publisher": truth["publisher"],
        "items_true": n_true,
        "items_found": n_got,
        "matched": len(pairs),
        "recall": len(pairs) / n_true if n_true else 1.0,
        "precision": len(pairs) / n_got if n_got else 1.0,
        "module_accuracy": modules / len(pairs) if pairs else 1.0,
        "body_f1": token_f1(parsed.body, truth["body"]),
        "title_ok": _same_title(parsed.title, truth["title"]),
        "first_sentence_ok": norm(truth["first_sentence"]) in norm(parsed.body),
        "self_links": sum(bool(i.self_link) for i in parsed.items),
        "dropped_links": sum(d.count for d in parsed.dropped),
        "seconds": seconds,
        "missed": [
            truth["items"][i]["title"] for i in range(n_true) if i not in {p[0] for p in pairs}
        ],
        "extra": [got[j]["title"] for j in range(n_got) if j not in {p[1] for p in pairs}],
    }


def table(rows: list[dict]) -> str:
    head = (
        "| page | publisher | true items | found | recall | precision | module right "
        "| body F1 | title | 1st sentence |\n|---|---|---:|---:|---:|---:|---:|---:|:-:|:-:|"
    )
    lines = [head]
    for r in rows:
        lines.append(
            f"| {r['page']} | {r['publisher']} | {r['items_true']} | {r['items_found']} "
            f"| {r['recall']:.2f} | {r['precision']:.2f} | {r['module_accuracy']:.2f} "
            f"| {r['body_f1']:.2f} | {'yes' if r['title_ok'] else 'no'} "
            f"| {'yes' if r['first_sentence_ok'] else 'no'} |"
        )
    t, g, m = (sum(r[k] for r in rows) for k in ("items_true", "items_found", "matched"))
    f1 = sum(r["body_f1"] for r in rows) / len(rows)
    lines.append(
        f"| **all {len(rows)} pages** | {len({r['publisher'] for r in rows})} publishers | {t} "
        f"| {g} | **{m / t:.3f}** | **{m / g:.3f}** | "
        f"{sum(r['module_accuracy'] * r['matched'] for r in rows) / m:.2f} | **{f1:.3f}** (mean) "
        f"| {sum(r['title_ok'] for r in rows)}/{len(rows)} "
        f"| {sum(r['first_sentence_ok'] for r in rows)}/{len(rows)} |"
    )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, default=None, help="write the figures here")
    parser.add_argument("--verbose", action="store_true", help="list missed and extra items")
    args = parser.parse_args(argv)
    rows = [
        evaluate(p) for p in sorted(PAGES.glob("*.html")) if p.with_suffix(".truth.json").is_file()
    ]
    print(table(rows))
    if args.verbose:
        for r in rows:
            for kind in ("missed", "extra"):
                for title in r[kind]:
                    print(f"{r['page']}: {kind}: {title}")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(rows, indent=1, ensure_ascii=False), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
