"""Read a publisher's HTML page: the article from trafilatura, its modules from the DOM.

The recommended / related modules are found first (``relevance.io.html_modules``) and taken
out of a copy of the tree, so trafilatura sees the article without them: a "READ MORE"
line becomes an item and leaves the article text. A page without any module is an error
naming the page and the headings it has, never a feed of markup.
"""

from __future__ import annotations

import codecs
import copy
import datetime
import re
from pathlib import Path

from lxml import etree
from lxml.html import HtmlElement, document_fromstring

from relevance.io.html_items import text_of
from relevance.io.html_modules import find_modules
from relevance.io.page import (
    Dropped,
    Page,
    PageItem,
    PageParseError,
    looks_like_html,
    no_module_message,
)

_CHARSET = re.compile(rb"""<meta[^>]{0,200}?charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]{1,40})""", re.I)
_XML_DECL = re.compile(r"^\s*<\?xml[^>]*\?>", re.I)
_DROP_TAGS = ("script", "style", "noscript", "template", "svg", "iframe", "object", "embed")


def decode_html(data: bytes) -> str:
    """Text of an HTML file: its byte-order mark, else UTF-8, else its declared charset.

    Bytes that are neither are replaced (shown as U+FFFD), as browsers do, rather than
    refused: a page with one bad byte is still a page.
    """
    for bom, enc in ((codecs.BOM_UTF8, "utf-8"), (codecs.BOM_UTF16_LE, "utf-16-le"),
                     (codecs.BOM_UTF16_BE, "utf-16-be")):  # fmt: skip
        if data.startswith(bom):
            return data[len(bom) :].decode(enc, errors="replace")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    m = _CHARSET.search(data[:8192])
    enc = m.group(1).decode("ascii").lower() if m else "cp1252"
    try:
        codecs.lookup(enc)
    except LookupError:
        enc = "cp1252"
    if enc in ("iso-8859-1", "latin-1", "latin1", "us-ascii", "ascii"):
        enc = "cp1252"  # what browsers read for these labels
    return data.decode(enc, errors="replace")


def _tree(text: str, source: str) -> HtmlElement:
    text = _XML_DECL.sub("", text.replace("\x00", ""), count=1)
    if not text.strip():
        raise PageParseError(source, "empty page: expected an HTML document")
    try:
        root = document_fromstring(text)
    except (etree.ParserError, etree.XMLSyntaxError, ValueError) as exc:
        raise PageParseError(source, f"not a readable HTML document ({exc})") from None
    etree.strip_elements(root, *_DROP_TAGS, etree.Comment, etree.ProcessingInstruction,
                         with_tail=False)  # fmt: skip
    return root


def _meta(root: HtmlElement, *names: str) -> str:
    for name in names:
        for el in root.iter("meta"):
            if name in (el.get("property"), el.get("name"), el.get("itemprop")):
                value = (el.get("content") or "").strip()
                if value:
                    return value
    return ""


def _page_url(root: HtmlElement) -> str:
    """The article's own address: its canonical link, og:url, or <base href>."""
    for el in root.iter("link"):
        if "canonical" in (el.get("rel") or "").lower().split() and (el.get("href") or "").strip():
            return el.get("href").strip()
    url = _meta(root, "og:url", "twitter:url")
    if url:
        return url
    base = root.find(".//base")
    return (base.get("href") or "").strip() if base is not None else ""


def _same_page(href: str, url: str) -> bool:
    def key(u: str) -> str:
        u = u.split("#", 1)[0].split("?", 1)[0].rstrip("/")
        return re.sub(r"^(?:https?:)?//(?:www\.)?", "", u, flags=re.I).lower()

    return bool(url) and key(href) == key(url)


def _article(root: HtmlElement, url: str) -> tuple[str, str, datetime.date | None]:
    """Title, body paragraphs (joined by blank lines) and date of the main article."""
    import trafilatura

    doc = trafilatura.bare_extraction(
        root,
        url=url or None,
        with_metadata=True,
        include_comments=False,
        include_tables=False,
        include_images=False,
        include_links=False,
        deduplicate=False,
    )
    title = body = ""
    date = None
    if doc is not None:
        title = (doc.title or "").strip()
        lines = [" ".join(x.split()) for x in (doc.text or "").split("\n")]
        body = "\n\n".join(x for x in lines if x)
        date = _iso_date(doc.date)
    headlines = [text_of(h) for h in root.iter("h1")]
    if not title:
        title = next((h for h in headlines if h), "") or _meta(root, "og:title")
    else:  # "Headline - Site name": the page's own <h1> is the headline
        title = next((h for h in headlines if len(h) >= 10 and h in title), title)
    return title, _without_headline(body, title), date


def _without_headline(body: str, title: str) -> str:
    """The body without the headline the extractor kept as its first paragraph."""
    paragraphs = body.split("\n\n")
    if len(paragraphs) > 1 and title and _words(paragraphs[0]) == _words(title):
        return "\n\n".join(paragraphs[1:])
    return body


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.casefold())


def _iso_date(value: str | None) -> datetime.date | None:
    if not value:
        return None
    try:
        return datetime.date.fromisoformat(value[:10])
    except ValueError:
        return None


def parse_html(data: bytes | str, source: str = "<html>") -> Page:
    """Parse an HTML page; raises PageParseError naming ``source`` when nothing fits."""
    text = decode_html(data) if isinstance(data, bytes) else data
    if not looks_like_html(text[:4096]) and "<" not in text:
        raise PageParseError(source, "no HTML markup: expected an HTML page (a text page is .txt)")
    root = _tree(text, source)
    url = _page_url(root)
    mods = find_modules(root, url)
    if not mods.items:
        dropped = tuple(Dropped(m, reason, n) for m, reason, n in mods.dropped)
        raise PageParseError(source, no_module_message(mods.headings, dropped))
    items = tuple(
        PageItem(f.title, f.blurb, 0, f.module, f.href, _same_page(f.href, url)) for f in mods.items
    )
    article = copy.deepcopy(root)
    # Map the nodes to remove onto the copy by their position in document order.
    index = {el: i for i, el in enumerate(root.iter())}
    twins = list(article.iter())
    for el in mods.remove:
        twin = twins[index[el]]
        parent = twin.getparent()
        if parent is not None:
            twin.drop_tree()
    title, body, date = _article(article, url)
    if not (title or body):
        raise PageParseError(source, "no article found: expected a title or body text")
    dropped = tuple(Dropped(m, reason, n) for m, reason, n in mods.dropped)
    return Page(date, title, body, items, tuple(mods.headings), dropped, url)


def read_html(path: str | Path) -> Page:
    path = Path(path)
    return parse_html(path.read_bytes(), str(path))
