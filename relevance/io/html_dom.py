"""The DOM of a page as the module finders see it: order, base address, article body.

``Finder`` knows where a module ends (the next heading of its rank) and which links are
taken already, so the finders of ``relevance.io.html_modules`` and ``html_boxes`` never
claim a link twice.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urljoin

from lxml.html import HtmlElement

from relevance.io import html_items as hi
from relevance.io.html_items import HEADING_TAGS, text_of

#: Own (non-link) text of a paragraph that resumes the article after an in-body module.
_PROSE = 120


#: (element, text, kind) of every heading-like element of a page, in document order.
Heads = list[tuple[HtmlElement, str, str | None]]


@dataclass
class Module:
    name: str
    kind: str  # "stories", "sponsored", "navigation"
    container: HtmlElement
    start: HtmlElement | None  # the heading: items follow it
    links: list[HtmlElement] = field(default_factory=list)


class Doc:
    """The page's DOM with document order, its base address and the article's body node."""

    def __init__(self, root: HtmlElement, base: str):
        self.root, self.base = root, base
        self.order = {el: i for i, el in enumerate(root.iter())}
        self.body = self._body_node()
        self.body_ancestors = set(self.body.iterancestors()) if self.body is not None else set()

    def _body_node(self) -> HtmlElement | None:
        """The element whose <p> children hold the most text: the article's body."""
        score: dict[HtmlElement, int] = {}
        for p in self.root.iter("p"):
            parent = p.getparent()
            n = len(text_of(p)) - sum(len(text_of(a)) for a in p.iter("a"))
            if parent is not None and n > 0:
                score[parent] = score.get(parent, 0) + n
        return max(score, key=score.__getitem__) if score else None

    def href(self, a: HtmlElement) -> str | None:
        raw = (a.get("href") or "").strip()
        if hi.skip_href(raw):
            return None
        return urljoin(self.base, raw) if self.base else raw

    def in_body(self, node: HtmlElement) -> bool:
        return node is self.body or (
            self.body is not None and any(anc is self.body for anc in node.iterancestors())
        )

    def pos(self, el: HtmlElement) -> int:
        return self.order.get(el, -1)


def level(el: HtmlElement) -> int:
    return int(el.tag[1]) if el.tag in HEADING_TAGS else 9


class Finder:
    def __init__(self, doc: Doc, heads: Heads):
        self.doc = doc
        # Where a module ends: any module heading; a plain heading of its rank or higher.
        self.stops = sorted(
            (doc.pos(el), 0 if kind is not None else level(el)) for el, _, kind in heads
        )
        self.taken: set[HtmlElement] = set()

    def links_after(self, container: HtmlElement, start: HtmlElement | None) -> list[HtmlElement]:
        """The candidate links of a module: after its heading, before the next heading."""
        doc = self.doc
        first = doc.pos(start) if start is not None else -1
        after = doc.pos(last_descendant(start)) if start is not None else -1
        rank = level(start) if start is not None else 9
        stop = next(
            (p for p, lv in self.stops if p > after and (lv == 0 or lv <= rank)), None
        ) if start is not None else None  # fmt: skip
        out = []
        for a in container.iter("a"):
            p = doc.pos(a)
            if p <= max(first, after) or (stop is not None and p >= stop) or a in self.taken:
                continue
            href = doc.href(a)
            if href is None or any(
                hi.is_nav(x) and not (hi.nav_element(x) and hi.article_href(href))
                for x in between(a, container)
            ):
                continue  # a menu's link; a <nav> bar of articles ("Trending:") is kept
            out.append(a)
        if doc.in_body(container):  # inside the article: it ends where the prose resumes
            out = until_prose(doc, container, out, after)
        return out

    def climb(self, heading: HtmlElement) -> tuple[HtmlElement, list[HtmlElement]] | None:
        """The element around a heading holding the story links that follow it.

        The smallest one holding any, grown while its parent holds more (the heading sat
        in a wrapper of its own), but never into the page around the article.
        """
        best: tuple[HtmlElement, list[HtmlElement]] | None = None
        count = 0
        for anc in heading.iterancestors():
            if anc.tag in ("body", "html") or anc in self.doc.body_ancestors:
                break
            links = self.links_after(anc, heading)
            n = sum(self.story(a, True) for a in links)
            if best is not None and (n <= count or anc is self.doc.body):
                break  # never grown into the article's own text
            if n:
                best, count = (anc, links), n
            if anc is self.doc.body:
                break
        return best

    def story(self, a: HtmlElement, in_module: bool) -> bool:
        href = self.doc.href(a)
        return href is not None and hi.is_story_link(hi.link_title(a), href, in_module)


def until_prose(doc: Doc, container: HtmlElement, links: list[HtmlElement], after: int):
    for p in container.iter("p"):
        if doc.pos(p) <= after:
            continue
        own = len(text_of(p)) - sum(len(text_of(a)) for a in p.iter("a"))
        if own >= _PROSE:
            return [a for a in links if doc.pos(a) < doc.pos(p)]
    return links


def between(node: HtmlElement, top: HtmlElement):
    for anc in node.iterancestors():
        if anc is top:
            return
        yield anc


def last_descendant(el: HtmlElement) -> HtmlElement:
    last = el
    for d in el.iter():
        last = d
    return last
