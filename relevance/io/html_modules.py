"""Find the recommended-stories modules of a news page in its DOM.

Three generic template patterns, none tied to one site:
- a module heading ("Related", "More in Politics", "Most read") and the links that follow
  it, up to the next heading, inside the smallest element around it that holds links;
- an element the template marks up as related content (``class``, ``id``, ``aria-label``,
  ``data-*``: related, recommended, most-read, read-next, ...), titled by its own heading;
- an in-body "READ MORE: <link>" line.
Sponsored modules (Outbrain, Taboola, "Promoted", "Paid content") and ads inside a module are
dropped and counted; navigation, share and comment widgets never yield items.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import urljoin, urlsplit

from lxml import etree
from lxml.html import HtmlElement

from relevance.io.headings import SPONSORED, heading_kind, normalize_heading

_HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
#: Elements that may carry a heading's text when the template uses no h1-h6.
_LABEL_TAGS = {"strong", "b", "span", "p", "div", "header", "legend", "caption", "dt", "li", "a",
               "em", "label", "button", "section", "aside", "figcaption"}  # fmt: skip
_ATTRS = ("class", "id", "aria-label", "data-module", "data-component", "data-type",
          "data-testid", "data-track", "data-section", "role")  # fmt: skip
#: Attribute values that mark related-content lists in publishers' templates.
_RELATED_ATTR = re.compile(
    r"(?:^|[^a-z])(?:related|recommend|recirc|more-?(?:stories|news|articles|from|on|in|like)"
    r"|most-?(?:read|popular|viewed|shared|emailed)|popular|trending|read-?(?:more|next|also)"
    r"|also-?read|further-?reading|you-?may-?like|suggested|top-?stories|more-?headlines"
    r"|outbrain|taboola|sponsored|promoted|partner-?content|paid-?content)",
    re.IGNORECASE,
)
_AD_ATTR = re.compile(
    r"(?:^|[^a-z])(?:outbrain|taboola|ob-widget|trc_|sponsor|promoted|advert|adslot|ad-slot"
    r"|dfp|gpt-ad|paid-?content|partner-?content|native-?ad|revcontent|zergnet|mgid)",
    re.IGNORECASE,
)
_NAV_ATTR = re.compile(
    r"(?:^|[^a-z])(?:nav|menu|breadcrumb|share|sharing|social|comment|pagination|pager|tags?"
    r"|topics|byline|author|footer-links|subscribe|newsletter|login|signup|skip|cookie|toolbar"
    r"|masthead)(?:$|[^a-z])",
    re.IGNORECASE,
)
_AD_HOST = re.compile(
    r"(?:outbrain|taboola|doubleclick|googleadservices|googlesyndication|revcontent|zergnet"
    r"|mgid|adclick|adserver|content\.ad|plista|ligatus)\.", re.IGNORECASE,
)  # fmt: skip
_AD_LABEL = re.compile(
    r"(?:sponsored|promoted|paid (?:content|post|for by)|advertisement|ad|advertorial"
    r"|partner content|sponsored by .{1,40}|presented by .{1,40}|anzeige|publicité)",
    re.IGNORECASE,
)
_READ_MORE = re.compile(
    r"\s*(?P<name>read (?:more|also|next)|also read|see also|related(?: stories| coverage)?"
    r"|more|recommended|further reading|watch|listen|mehr zum thema|lesen sie auch"
    r"|lire aussi|à lire aussi)\s*(?:[:|»›>\-–—]+|\.{3}|…)\s*",
    re.IGNORECASE,
)
_SKIP_HREF = re.compile(r"\s*(?:#|javascript:|mailto:|tel:|sms:|whatsapp:|data:)", re.I)
_SHARE_HREF = re.compile(
    r"(?:facebook\.com/shar|twitter\.com/(?:intent|share)|x\.com/intent|linkedin\.com/share"
    r"|pinterest\.com/pin|reddit\.com/submit|api\.whatsapp|t\.me/share|/share\?|/print/"
    r"|#comments?|/comments?(?:/|$)|/(?:login|signin|subscribe|newsletters?)(?:/|$|\?))",
    re.IGNORECASE,
)
_GENERIC_LINK = re.compile(
    r"(?:read|see|view|show|load|more|all|next|previous|prev|continue|full story|click here"
    r"|watch|listen|share|comments?|reply|\d+ comments?|subscribe|sign up|log in)"
    r"(?:\s+(?:more|all|the|full|story|stories|article|here|comments?|news|now|on \S+|in \S+))*"
    r"\s*[»›>…]*",
    re.IGNORECASE,
)
_BLURB_ATTR = re.compile(
    r"summary|dek|teaser|standfirst|description|excerpt|blurb|intro|lede|subtitle|sub-?head"
    r"|abstract|snippet|deck|strapline|kicker-?text",
    re.IGNORECASE,
)
_TITLE_ATTR = re.compile(r"title|headline|heading|hed(?:$|[^a-z])", re.IGNORECASE)
_TIMEISH = re.compile(
    r"(?:\d+\s*(?:min|mins|minutes?|hours?|hrs?|days?|weeks?)\s*(?:ago|read)?|updated.*|"
    r"\d{1,2}:\d{2}.*|by [A-Z].{0,60})", re.IGNORECASE,
)  # fmt: skip
_SPACE = re.compile(r"\s+")


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


def text_of(node: HtmlElement) -> str:
    return _SPACE.sub(" ", node.text_content() or "").strip()


def _attrs(node: HtmlElement) -> str:
    return " ".join(str(node.get(a) or "") for a in _ATTRS)


def _is_nav(node: HtmlElement) -> bool:
    tag = node.tag if isinstance(node.tag, str) else ""
    return tag in ("nav", "form", "button", "select") or node.get("role") in (
        "navigation", "menu", "menubar", "tablist", "search",
    ) or bool(_NAV_ATTR.search(str(node.get("class") or "") + " " + str(node.get("id") or "")))  # fmt: skip


def _is_ad(node: HtmlElement) -> bool:
    return bool(_AD_ATTR.search(_attrs(node)))


class _Doc:
    """The page's DOM with document order, its base address and the article's body node."""

    def __init__(self, root: HtmlElement, base: str):
        self.root, self.base = root, base
        self.order = {el: i for i, el in enumerate(root.iter())}
        self.body = self._body_node()
        self.body_ancestors = set(self.body.iterancestors()) if self.body is not None else set()

    def _body_node(self) -> HtmlElement | None:
        """The element whose <p> children hold the most text: the article's body."""
        best, score = None, 0
        for p in self.root.iter("p"):
            parent = p.getparent()
            if parent is None:
                continue
            n = len(text_of(p)) - sum(len(text_of(a)) for a in p.iter("a"))
            if n > 0:
                parent.set("_ptext", str(int(parent.get("_ptext") or 0) + n))
        for el in self.root.iter():
            if isinstance(el.tag, str) and el.get("_ptext"):
                value = int(el.attrib.pop("_ptext"))
                if value > score:
                    best, score = el, value
        return best

    def href(self, a: HtmlElement) -> str | None:
        raw = (a.get("href") or "").strip()
        if not raw or _SKIP_HREF.match(raw) or _SHARE_HREF.search(raw):
            return None
        return urljoin(self.base, raw) if self.base else raw

    def in_body(self, node: HtmlElement) -> bool:
        body = self.body
        return body is not None and any(anc is body for anc in node.iterancestors())


def _link_title(a: HtmlElement) -> str:
    """A link's headline: a title-like child, else its text, else its title or image alt."""
    for el in a.iter():
        if el is not a and isinstance(el.tag, str) and (
            el.tag in _HEADING_TAGS or _TITLE_ATTR.search(str(el.get("class") or ""))
        ):
            t = text_of(el)
            if len(t) >= 8:
                return t
    t = text_of(a)
    if t:
        return t
    img = next(a.iter("img"), None)
    return str(a.get("title") or (img.get("alt") if img is not None else "") or "").strip()


def headline_like(title: str) -> bool:
    """Text a story link carries (not "More »", "Sign in", "Terms of use")."""
    words = title.split()
    if len(title) < 15 or len(words) < 3 and len(title) < 25 or len(title) > 300:
        return False
    return not _GENERIC_LINK.fullmatch(title)


def _headings(doc: _Doc) -> list[tuple[HtmlElement, str, str | None]]:
    """(element, text, kind) of every heading-like element, outermost of equal text kept."""
    out: list[tuple[HtmlElement, str, str | None]] = []
    taken: set[HtmlElement] = set()
    for el in doc.root.iter():
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag not in _HEADING_TAGS and tag not in _LABEL_TAGS and el.get("role") != "heading":
            continue
        if any(anc in taken for anc in el.iterancestors()):
            continue
        text = text_of(el)
        if not text or len(text) > 80:
            continue
        kind = heading_kind(text)
        if tag not in _HEADING_TAGS and el.get("role") != "heading":
            if kind is None or len(el.findall(".//a")) > 1 or _has_block_text(el, text):
                continue
            if tag == "a" and headline_like(text) and kind != "sponsored":
                continue  # a story link whose headline happens to read like a heading
        taken.add(el)
        out.append((el, normalize_heading(text) or text, kind))
    return out


def _has_block_text(el: HtmlElement, text: str) -> bool:
    """An element whose children hold more than the heading (a whole box, not its title)."""
    return any(
        isinstance(c.tag, str) and c.tag in ("p", "ul", "ol", "li", "div", "article")
        and text_of(c) and text_of(c) != text
        for c in el
    )  # fmt: skip


@dataclass
class _Module:
    name: str
    kind: str  # "stories", "sponsored", "navigation"
    container: HtmlElement
    start: HtmlElement | None  # the heading: items follow it
    links: list[HtmlElement] = field(default_factory=list)


def _candidate_links(doc: _Doc, container: HtmlElement, start: HtmlElement | None,
                     stops: list[int]) -> list[HtmlElement]:  # fmt: skip
    """The story links of a module: after its heading, before the next heading."""
    first = doc.order[start] if start is not None else -1
    last_el = _last_descendant(start) if start is not None else None
    after = doc.order[last_el] if last_el is not None else -1
    stop = min((s for s in stops if s > first), default=None)
    prose = doc.in_body(container) or container is doc.body
    out = []
    for a in container.iter("a"):
        pos = doc.order.get(a, -1)
        if pos <= after or (stop is not None and pos >= stop):
            continue
        if doc.href(a) is None or any(
            _is_nav(anc) for anc in _between(a, container)
        ):
            continue
        out.append(a)
    if prose:  # a module inside the article: it ends where the article's prose resumes
        out = _until_prose(doc, container, out, after)
    return out


def _until_prose(doc: _Doc, container: HtmlElement, links: list[HtmlElement],
                 after: int) -> list[HtmlElement]:  # fmt: skip
    stop = None
    for p in container.iter("p"):
        pos = doc.order[p]
        if pos <= after:
            continue
        own = len(text_of(p)) - sum(len(text_of(a)) for a in p.iter("a"))
        if own >= 120:
            stop = pos
            break
    return links if stop is None else [a for a in links if doc.order[a] < stop]


def _between(node: HtmlElement, top: HtmlElement):
    for anc in node.iterancestors():
        if anc is top:
            return
        yield anc


def _last_descendant(el: HtmlElement) -> HtmlElement:
    last = el
    for d in el.iter():
        last = d
    return last


def _climb(doc: _Doc, heading: HtmlElement, stops: list[int]) -> HtmlElement | None:
    """The smallest element around a heading holding a story link after it."""
    for anc in heading.iterancestors():
        if anc.tag in ("body", "html"):
            return None
        links = _candidate_links(doc, anc, heading, stops)
        if any(headline_like(_link_title(a)) for a in links):
            return anc
    return None


def find_modules(root: HtmlElement, base: str) -> Modules:
    """Every recommended item of the page, the links dropped, and the headings seen."""
    doc = _Doc(root, base)
    heads = _headings(doc)
    stops = sorted(doc.order[el] for el, _, kind in heads if kind is not None or _plain(el))
    modules: list[_Module] = []
    for el, name, kind in heads:
        if kind is None:
            continue
        container = _climb(doc, el, stops)
        if container is None:
            continue
        modules.append(_Module(name, kind, container, el))
    modules += _marked_modules(doc, modules, heads)
    modules += _read_more_lines(doc, modules)
    return _collect(doc, modules, [name for _, name, _ in heads])


def _plain(el: HtmlElement) -> bool:
    """A real heading (h1-h6) that holds no link: it ends the module before it."""
    return el.tag in _HEADING_TAGS and el.find(".//a") is None and el.getparent() is not None \
        and not any(a.tag == "a" for a in el.iterancestors())  # fmt: skip


def _marked_modules(doc: _Doc, found: list[_Module], heads) -> list[_Module]:
    """Elements marked up as related content that no heading module already covers."""
    covered = {m.container for m in found}
    out: list[_Module] = []
    for el in doc.root.iter():
        if not isinstance(el.tag, str) or el.tag in ("body", "html", "a"):
            continue
        attrs = _attrs(el)
        m = _RELATED_ATTR.search(attrs)
        if m is None or _NAV_ATTR.search(str(el.get("class") or "")) and not _is_ad(el):
            continue
        if el is doc.body or el in doc.body_ancestors:
            continue
        if any(c is el or c in set(el.iterancestors()) or el in set(c.iterancestors())
               for c in covered):  # fmt: skip
            continue
        if any(o.container in set(el.iterancestors()) for o in out):
            continue
        links = _candidate_links(doc, el, None, [])
        if not any(headline_like(_link_title(a)) for a in links):
            continue
        name, kind = _marked_name(el, m.group(0))
        out.append(_Module(name, kind, el, None))
        covered.add(el)
    return out


def _marked_name(el: HtmlElement, token: str) -> tuple[str, str]:
    """A marked module's heading (its own, or its aria-label, or the marking) and kind."""
    for h in el.iter(*_HEADING_TAGS):
        t = normalize_heading(text_of(h))
        if t and len(t) <= 80 and h.find(".//a") is None:
            return t, heading_kind(t) or ("sponsored" if _is_ad(el) else "stories")
    label = normalize_heading(str(el.get("aria-label") or ""))
    if _is_ad(el):
        return label or "Sponsored", "sponsored"
    if label:
        return label, heading_kind(label) or "stories"
    word = re.sub(r"[^a-z]+", " ", token.lower()).strip()
    return word.capitalize(), "stories"


def _read_more_lines(doc: _Doc, found: list[_Module]) -> list[_Module]:
    """In-body "READ MORE: <a>Headline</a>" lines: items, and out of the article text."""
    out: list[_Module] = []
    covered = {m.container for m in found}
    for el in doc.root.iter("p", "div", "li", "h2", "h3", "h4", "h5", "h6", "strong", "b", "em"):
        text = text_of(el)
        m = _READ_MORE.match(text)
        if m is None or len(text) > 400 or el.find(".//a") is None:
            continue
        if any(c is el or c in set(el.iterancestors()) for c in covered):
            continue
        links = [a for a in el.iter("a") if doc.href(a) and headline_like(_link_title(a))]
        rest = text
        for a in el.iter("a"):
            rest = rest.replace(text_of(a), " ")
        if not links or len(_READ_MORE.sub("", rest).strip(" |,;.")) > 20:
            continue  # a sentence that starts with "More": article text
        name = normalize_heading(m.group("name")).capitalize()
        out.append(_Module(name, "stories", el, None, links))
        covered.add(el)
    return out


def _collect(doc: _Doc, modules: list[_Module], headings: list[str]) -> Modules:
    items: list[Found] = []
    dropped: list[tuple[str, str, int]] = []
    remove: list[HtmlElement] = []
    seen_nodes: set[HtmlElement] = set()
    for mod in sorted(modules, key=lambda m: doc.order[m.start if m.start is not None else m.container]):  # noqa: E501
        links = mod.links or _candidate_links(doc, mod.container, mod.start, _stops_after(doc, modules, mod))  # noqa: E501
        links = [a for a in links if a not in seen_nodes]
        seen_nodes.update(links)
        found = _items(doc, mod, links)
        whole = mod.start is None or mod.container is not doc.body and not doc.in_body(mod.container)
        if mod.start is not None:
            remove.append(mod.start)
        if whole and mod.start is None:
            remove.append(mod.container)
        if mod.kind != "stories":
            if found:
                dropped.append((mod.name, mod.kind, len(found)))
            remove.extend(f.node for f in found)
            continue
        ads = [f for f in found if _is_ad_item(doc, f, mod.container)]
        if ads:
            dropped.append((mod.name, "sponsored", len(ads)))
        kept = [f for f in found if f not in ads]
        items.extend(kept)
        remove.extend(f.node for f in found)
    return Modules(items, dropped, headings, remove)


def _stops_after(doc: _Doc, modules: list[_Module], mod: _Module) -> list[int]:
    """Where a heading module ends: at the next module's heading or marked element."""
    return sorted(
        doc.order[m.start if m.start is not None else m.container] for m in modules if m is not mod
    )


def _items(doc: _Doc, mod: _Module, links: list[HtmlElement]) -> list[Found]:
    """One item per distinct link: headline, blurb from its card, module heading."""
    by_href: dict[str, list[HtmlElement]] = {}
    for a in links:
        href = doc.href(a)
        if href is not None:
            by_href.setdefault(href.split("#", 1)[0], []).append(a)
    out: list[Found] = []
    for href, group in by_href.items():
        titles = sorted(((_link_title(a), a) for a in group), key=lambda t: -len(t[0]))
        title, anchor = titles[0]
        if not headline_like(title):
            continue
        card = _card(anchor, mod.container, set(by_href) - {href}, doc)
        blurb = _blurb(card, group, title)
        out.append(Found(title, blurb, href, mod.name, card))
    return out


def _card(a: HtmlElement, top: HtmlElement, others: set[str], doc: _Doc) -> HtmlElement:
    """The largest element around a link, inside its module, holding no other story link."""
    card = a
    for anc in a.iterancestors():
        if anc is top:
            break
        hrefs = {(doc.href(x) or "").split("#", 1)[0] for x in anc.iter("a")}
        if hrefs & others:
            break
        card = anc
    return card


def _blurb(card: HtmlElement, links: list[HtmlElement], title: str) -> str:
    """The teaser text of a card: a summary-like element, else its text beside the links."""
    for el in card.iter():
        if isinstance(el.tag, str) and el.tag != "a" and _BLURB_ATTR.search(str(el.get("class") or "")):  # noqa: E501
            t = text_of(el)
            if t and t != title and len(t) >= 20:
                return t
    parts = []
    for el in card.iter("p"):
        t = text_of(el)
        if t and t != title and not _TIMEISH.fullmatch(t):
            parts.append(t)
    text = " ".join(parts)
    return text if len(text.split()) >= 5 else ""


def _is_ad_item(doc: _Doc, item: Found, top: HtmlElement) -> bool:
    """An ad inside a module: an ad network's link, an ad's markup, or a "Sponsored" label."""
    if _AD_HOST.search(urlsplit(item.href).netloc + "/") or "/sponsored/" in item.href:
        return True
    node = item.node
    if any(_is_ad(el) for el in [node, *_between(node, top)]) or any(
        isinstance(el.tag, str) and _is_ad(el) for el in node.iter()
    ):
        return True
    for el in node.iter():
        if isinstance(el.tag, str) and el.tag != "a":
            t = text_of(el)
            if t and len(t) <= 40 and _AD_LABEL.fullmatch(t):
                return True
    return bool(SPONSORED.fullmatch(item.title))


def element_text(node: HtmlElement) -> str:
    """Visible text of an element (for messages and tests)."""
    return text_of(node)


__all__ = ["Found", "Modules", "etree", "find_modules", "headline_like"]
