"""Modules found by their shape rather than their heading: tabs, same-template boxes, teasers.

- a tab ``<a href="#most-read">Most read</a>`` names the panel it opens;
- a box built from the same template (tag and classes, same column) as a module found by
  its heading is a module too, titled by its own heading ("Techland" beside "More on TIME");
- a run of three or more teaser cards built alike, each one story link, is a module.
"""

from __future__ import annotations

import re

from lxml.html import HtmlElement

from relevance.io import html_items as hi
from relevance.io.headings import heading_kind, normalize_heading
from relevance.io.html_dom import Doc, Finder, Heads, Module
from relevance.io.html_items import HEADING_TAGS, text_of


def tab_panels(doc: Doc, finder: Finder, found: list[Module], heads: Heads) -> list[Module]:
    """Tabbed modules: a tab ``<a href="#most-read">Most read</a>`` names its panel.

    A tab that is no module heading by itself ("Emailed") takes the heading of the box
    holding the tabs ("Most Popular Content").
    """
    ids = {el.get("id"): el for el in doc.root.iter() if isinstance(el.tag, str) and el.get("id")}
    covered = {m.container for m in found}
    out: list[Module] = []
    for a in doc.root.iter("a"):
        target = (a.get("href") or "").strip()
        panel = ids.get(target[1:]) if target.startswith("#") and len(target) > 1 else None
        name = normalize_heading(text_of(a))
        if panel is None or panel in covered or not name or len(name) > 60:
            continue
        if panel is doc.body or panel in doc.body_ancestors or doc.in_body(panel):
            continue  # "Skip to content": the article, not a module
        if heading_kind(name) is None and not _tab_beside_module(a):
            continue  # a tab of something else ("Comments")
        links = [x for x in finder.links_after(panel, None) if finder.story(x, True)]
        if not links:
            continue
        if heading_kind(name) is None:
            name = _box_heading(doc, a, panel, heads, ids) or name
        out.append(Module(name, heading_kind(name) or "stories", panel, None, links))
        finder.taken.update(links)
        covered.add(panel)
    return out


def _box_heading(
    doc: Doc, tab: HtmlElement, panel: HtmlElement, heads: Heads, ids: dict
) -> str | None:
    """The last module heading before a tab inside the element holding tab and panel,
    the other tabs aside ("Most read" beside "Emailed" names its own panel only)."""
    panel_ancestors = set(panel.iterancestors())
    box = next((anc for anc in tab.iterancestors() if anc in panel_ancestors), None)
    for _ in range(3):  # the box, or the one or two around it that hold its title
        if box is None:
            return None
        start, end = doc.pos(box), doc.pos(tab)
        names = [
            n
            for el, n, kind in heads
            if kind == "stories" and start < doc.pos(el) < end and not _is_tab(el, ids)
        ]
        if names:
            return names[-1]
        box = box.getparent()
    return None


def _is_tab(el: HtmlElement, ids: dict) -> bool:
    """A heading that is (or sits in, or holds) a link opening a panel of the page."""
    links = [el, *el.iterancestors("a"), *el.iter("a")]
    return any((a.get("href") or "").strip()[1:] in ids for a in links if a.tag == "a"
               and (a.get("href") or "").strip().startswith("#"))  # fmt: skip


def _tab_beside_module(a: HtmlElement) -> bool:
    """A tab of a tab bar whose other tabs name modules ("Editors' picks" beside "Most read")."""
    for bar in a.iterancestors():
        if bar.get("role") == "tablist" or re.search(
            r"(?:^|[^a-z])tabs?(?:$|[^a-z])", str(bar.get("class") or "")
        ):
            return any(heading_kind(text_of(x)) == "stories" for x in bar.iter("a") if x is not a)
        if len(bar.findall(".//a")) > 12:
            return False
    return False


def _signature(el: HtmlElement) -> tuple[str, str] | None:
    cls = " ".join(sorted(str(el.get("class") or "").split()))
    return (el.tag, cls) if cls else None


def same_template(doc: Doc, finder: Finder, found: list[Module], heads: Heads) -> list[Module]:
    """Boxes built like a module found by its heading: same tag and classes, same column."""
    sigs = {
        (_signature(m.container), m.container.getparent()) for m in found
        if m.kind == "stories" and not doc.in_body(m.container) and _signature(m.container)
    }  # fmt: skip
    if not sigs:
        return []
    covered = {m.container for m in found}
    head_of = {el: name for el, name, _ in heads}
    out: list[Module] = []
    for el in doc.root.iter():
        if not isinstance(el.tag, str) or (_signature(el), el.getparent()) not in sigs:
            continue  # a box of the same template, in the same column
        if el in covered:
            continue
        if any(c in covered for c in el.iterancestors()) or el in doc.body_ancestors:
            continue
        title = next((h for h in el.iter() if h in head_of or h.tag in HEADING_TAGS), None)
        if title is None or title.find(".//a") is not None and title not in head_of:
            continue
        name = head_of.get(title) or normalize_heading(text_of(title))
        if not name or len(name) > 60 or heading_kind(name) in ("sponsored", "navigation"):
            continue
        links = finder.links_after(el, title)
        if sum(finder.story(a, True) for a in links) < 2:
            continue
        out.append(Module(name, "stories", el, title, links))
        finder.taken.update(links)
        covered.add(el)
    return out


def teaser_groups(doc: Doc, finder: Finder, found: list[Module], heads: Heads) -> list[Module]:
    """A run of three or more teaser cards built alike, each one story link, no heading."""
    covered = {m.container for m in found}
    out: list[Module] = []
    for el in doc.root.iter():
        if not isinstance(el.tag, str) or el in covered or el is doc.body:
            continue
        if el in doc.body_ancestors or doc.in_body(el):
            continue
        cards = [c for c in el if isinstance(c.tag, str)]
        if len(cards) < 3 or len({(c.tag, c.get("class")) for c in cards}) != 1:
            continue
        if cards[0].tag not in ("article", "a", "li", "div") or hi.is_nav(el):
            continue
        if any(c in covered for c in el.iterancestors()):
            continue
        links = finder.links_after(el, None)
        per_card = [[a for a in links if a is c or c in set(a.iterancestors())] for c in cards]
        if not all(len({doc.href(a) for a in group}) == 1 for group in per_card):
            continue  # each card one story
        if not all(finder.story(group[0], False) for group in per_card):
            continue
        if not any(c.tag == "article" or c.find(".//article") is not None
                   or re.search(r"teaser|card|story|promo|tile", str(c.get("class") or ""))
                   for c in cards):  # fmt: skip
            continue
        out.append(Module(_preceding_heading(doc, el, heads), "stories", el, None, links))
        finder.taken.update(links)
        covered.add(el)
    return out


def _preceding_heading(doc: Doc, el: HtmlElement, heads: Heads) -> str:
    """The last heading before a teaser run inside its parent, else a generic name."""
    parent = el.getparent()
    start = doc.pos(parent) if parent is not None else -1
    before = [name for h, name, _ in heads if start < doc.pos(h) < doc.pos(el)]
    return before[-1] if before else "More stories"
