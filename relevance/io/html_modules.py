"""Find the recommended-stories modules of a news page in its DOM.

Generic template patterns, none tied to one site:
- a module heading ("Related", "More in Politics", "Most read") and the story links that
  follow it, up to the next heading of its rank, inside the smallest element around it
  that holds such links;
- a box built from the same template (tag and class) as a module found that way, titled by
  its own heading ("Techland" beside "More on TIME.com");
- an element the template marks up as related content (``class``, ``id``, ``aria-label``,
  ``data-*``: related, recommended, most-read, read-next, ...);
- in the article body, a "READ MORE: <link>" line, a rich-link box, or a paragraph that is
  nothing but a link to another story.
Sponsored modules (Outbrain, Taboola, "Promoted", "Paid content") and ads inside a module
are dropped and counted; navigation, share and comment widgets never yield items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from lxml.html import HtmlElement

from relevance.io import html_items as hi
from relevance.io.headings import heading_kind, normalize_heading
from relevance.io.html_boxes import same_template, tab_panels, teaser_groups
from relevance.io.html_dom import Doc, Finder, Heads, Module, between
from relevance.io.html_items import HEADING_TAGS, text_of

#: Elements that may carry a heading's text when the template uses no h1-h6.
_LABEL_TAGS = {"strong", "b", "span", "p", "div", "header", "legend", "caption", "dt", "li", "a",
               "em", "label", "button", "section", "aside", "figcaption"}  # fmt: skip


_BLOCKS = {"p", "ul", "ol", "li", "div", "article", "section", "table"}


#: Attribute values that mark related-content lists in publishers' templates.
_RELATED_ATTR = re.compile(
    r"(?:^|[^a-z])(?:related|recommend|recirc|more-?(?:stories|news|articles|from|on|in|like)"
    r"|most-?(?:read|popular|viewed|shared|emailed)|popular|trending|read-?(?:more|next|also)"
    r"|also-?read|further-?reading|you-?may-?like|suggested|top-?stories|more-?headlines"
    r"|rich-?link|outbrain|taboola|sponsored|promoted|partner-?content|paid-?content)",
    re.IGNORECASE,
)


_READ_MORE = re.compile(
    r"\s*(?P<name>read (?:more|also|next)|also read|see also|related(?: stories| coverage)?"
    r"|more|recommended|further reading|watch|listen|mehr zum thema|lesen sie auch"
    r"|lire aussi|à lire aussi)\s*(?:[:|»›>\-–—]+|\.{3}|…)\s*",
    re.IGNORECASE,
)


#: The module name of in-body links that carry no heading of their own.
IN_BODY = "Read more"


@dataclass
class Found:
    """One item found: its headline, blurb, absolute link and module heading."""

    title: str
    blurb: str
    href: str
    module: str
    node: HtmlElement = field(repr=False)


@dataclass
class Modules:
    items: list[Found]
    dropped: list[tuple[str, str, int]]  # (module, reason, links)
    headings: list[str]  # every heading seen, in page order
    remove: list[HtmlElement]  # what leaves the tree before the article is extracted


def _headings(doc: Doc) -> list[tuple[HtmlElement, str, str | None]]:
    """(element, text, kind) of every heading-like element, outermost of equal text kept."""
    out: list[tuple[HtmlElement, str, str | None]] = []
    taken: set[HtmlElement] = set()
    for el in doc.root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag not in HEADING_TAGS and tag not in _LABEL_TAGS and el.get("role") != "heading":
            continue
        ancestors = list(el.iterancestors())
        if any(anc in taken or anc.tag == "a" for anc in ancestors):
            continue  # inside a heading already seen, or a story's headline inside its link
        text = text_of(el)
        if not text or len(text) > 80:
            continue
        kind = heading_kind(text)
        if tag not in HEADING_TAGS and el.get("role") != "heading":
            if kind is None or len(el.findall(".//a")) > 1 or _has_block_text(el, text):
                continue
            if el.tag != "a" and any(hi.headline_like(hi.link_title(x)) for x in el.iter("a")):
                continue  # a box or a "READ MORE: <headline>" line, not a heading
            parent = el.getparent()
            if (
                kind == "sponsored"
                and parent is not None
                and any(hi.headline_like(hi.link_title(x)) for x in parent.iter("a"))
            ):
                continue  # the "Sponsored" label of one card: the card is an ad, not a module
            if tag == "a" and hi.headline_like(text) and kind != "sponsored":
                continue  # a story link whose headline reads like a heading
            if any(hi.is_nav(anc) for anc in ancestors):
                continue  # an entry of a navigation menu ("Latest Headlines")
        elif el.find(".//a") is not None and kind is None:
            continue  # an item's headline, not a heading
        taken.add(el)
        out.append((el, normalize_heading(text) or text, kind))
    return out


def _has_block_text(el: HtmlElement, text: str) -> bool:
    """An element whose children hold more than the heading (a whole box, not its title)."""
    return any(
        isinstance(c.tag, str) and c.tag in _BLOCKS and text_of(c) and text_of(c) != text
        for c in el
    )


def find_modules(root: HtmlElement, base: str) -> Modules:
    """Every recommended item of the page, the links dropped, and the headings seen."""
    doc = Doc(root, base)
    heads = _headings(doc)
    finder = Finder(doc, heads)
    modules: list[Module] = tab_panels(doc, finder, [], heads)  # tabs name their panels
    for el, name, kind in heads:
        if kind is None:
            continue
        found = finder.climb(el)
        if found is None:
            continue
        container, links = found
        modules.append(Module(name, kind, container, el, links))
        finder.taken.update(links)
    modules += same_template(doc, finder, modules, heads)
    modules += _marked_modules(doc, finder, modules, heads)
    modules += teaser_groups(doc, finder, modules, heads)
    modules += _in_body_links(doc, finder, modules)
    return _collect(doc, finder, modules, [name for _, name, _ in heads])


def _marked_modules(doc: Doc, finder: Finder, found: list[Module], heads: Heads) -> list[Module]:
    """Elements marked up as related content that no heading module already covers."""
    covered = {m.container for m in found}
    out: list[Module] = []
    for el in doc.root.iter():
        if not isinstance(el.tag, str) or el.tag in ("body", "html", "a"):
            continue
        m = _RELATED_ATTR.search(hi.attrs(el))
        if m is None or (hi.is_nav(el) and not hi.is_ad(el)):
            continue
        if el is doc.body or el in doc.body_ancestors:
            continue
        ancestors = set(el.iterancestors())
        if any(c is el or c in ancestors or el in set(c.iterancestors()) for c in covered):
            continue
        links = finder.links_after(el, None)
        if not any(finder.story(a, False) for a in links):
            continue
        name, kind = _marked_name(el, m.group(0), _first_heading(doc, el, links, heads))
        out.append(Module(name, kind, el, None, links))
        finder.taken.update(links)
        covered.add(el)
    return out


def _first_heading(doc: Doc, el: HtmlElement, links: list[HtmlElement], heads: Heads) -> str | None:
    """A marked element's title: its leading text, a heading inside before its first link,
    or a module heading just before it (beside it, in its parent)."""
    first = min((doc.pos(a) for a in links), default=None)
    lead = []
    for node in el.iter():
        if first is None or doc.pos(node) >= first or node.tag == "a":
            break
        lead.append(node.text or "")
    title = normalize_heading(" ".join(lead))
    if 2 < len(title) <= 60:
        return title
    for h, name, _ in heads:
        if first is not None and doc.pos(el) < doc.pos(h) < first and name and len(name) <= 60:
            return name
    parent = el.getparent()
    start = doc.pos(parent) if parent is not None else doc.pos(el)
    before = [n for h, n, k in heads if k == "stories" and start < doc.pos(h) < doc.pos(el)]
    return before[-1] if before else None


def _marked_name(el: HtmlElement, token: str, title: str | None) -> tuple[str, str]:
    """A marked module's heading (its own, or its aria-label, or the marking) and kind."""
    if title and not hi.is_ad(el):
        return title, heading_kind(title) or "stories"
    for h in el.iter(*HEADING_TAGS):
        t = normalize_heading(text_of(h))
        if t and len(t) <= 80 and h.find(".//a") is None:
            return t, heading_kind(t) or ("sponsored" if hi.is_ad(el) else "stories")
    label = normalize_heading(str(el.get("aria-label") or ""))
    if hi.is_ad(el):
        return label or "Sponsored", "sponsored"
    if label:
        return label, heading_kind(label) or "stories"
    word = re.sub(r"[^a-z]+", " ", token.lower()).strip()
    return (IN_BODY if "rich" in word else word.capitalize()), "stories"


def _in_body_links(doc: Doc, finder: Finder, found: list[Module]) -> list[Module]:
    """In-body "READ MORE: <a>Headline</a>" lines and paragraphs that are one story link."""
    if doc.body is None:
        return []
    out: list[Module] = []
    covered = {m.container for m in found}
    for el in doc.body.iter("p", "div", "li", "h2", "h3", "h4", "h5", "h6", "strong", "b"):
        if el in covered or any(c in covered for c in el.iterancestors()):
            continue
        text = text_of(el)
        if len(text) > 400 or el.find(".//a") is None:
            continue
        m = _READ_MORE.match(text)
        anchors = [a for a in el.iter("a") if a not in finder.taken]
        links = [a for a in anchors if finder.story(a, True)]
        rest = text
        for a in el.iter("a"):
            rest = rest.replace(text_of(a), " ")
        rest = (_READ_MORE.sub("", rest, count=1) if m else rest).strip(" |,;.:")
        if not links or len(rest) > 20:
            continue  # prose with a link in it: article text
        if m is None and (el.tag not in ("p", "h2", "h3", "h4") or len(links) != 1):
            continue
        name = normalize_heading(m.group("name")).capitalize() if m else IN_BODY
        out.append(Module(name, "stories", el, None, links))
        finder.taken.update(links)
        covered.add(el)
    return out


def _collect(doc: Doc, finder: Finder, modules: list[Module], headings: list[str]) -> Modules:
    items: list[Found] = []
    dropped: list[tuple[str, str, int]] = []
    remove: list[HtmlElement] = []
    seen: set[tuple[str, str]] = set()  # (module, link): a module printed twice counts once
    for mod in sorted(
        modules, key=lambda m: doc.pos(m.start if m.start is not None else m.container)
    ):  # noqa: E501
        found = _items(doc, finder, mod)
        if mod.start is not None:
            remove.append(mod.start)
        elif not doc.in_body(mod.container) or mod.container.tag != "div" or found:
            remove.append(mod.container)
        remove.extend(f.node for f in found)
        if mod.kind != "stories":
            if found:
                dropped.append((mod.name, mod.kind, len(found)))
            continue
        ads = [
            f
            for f in found
            if hi.ad_item(f.href, f.title, f.node, list(between(f.node, mod.container)))
        ]  # noqa: E501
        if ads:
            dropped.append((mod.name, "sponsored", len(ads)))
        for f in found:
            key = (mod.name.casefold(), f.href)
            if f not in ads and key not in seen:
                seen.add(key)
                items.append(f)
    return Modules(items, dropped, headings, remove)


def _items(doc: Doc, finder: Finder, mod: Module) -> list[Found]:
    """One item per distinct story link: headline, blurb from its card, module heading."""
    by_href: dict[str, list[HtmlElement]] = {}
    for a in mod.links:
        href = doc.href(a)
        if href is not None:
            by_href.setdefault(href.split("#", 1)[0], []).append(a)
    in_module = mod.start is not None
    out: list[Found] = []
    for href, group in by_href.items():
        titled = sorted(((hi.link_title(a), a) for a in group), key=lambda t: -len(t[0]))
        title, anchor = titled[0]
        if not hi.is_story_link(title, href, in_module):
            continue
        card = _card(doc, anchor, mod.container, set(by_href) - {href})
        out.append(Found(title, hi.blurb_of(card, title), href, mod.name, card))
    return out


def _card(doc: Doc, a: HtmlElement, top: HtmlElement, others: set[str]) -> HtmlElement:
    """The largest element around a link, inside its module, holding no other story link."""
    card = a
    for anc in a.iterancestors():
        if anc is top or anc is doc.body:
            break
        hrefs = {(doc.href(x) or "").split("#", 1)[0] for x in anc.iter("a")}
        if hrefs & others:
            break
        card = anc
    return card
