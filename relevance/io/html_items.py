"""What one link of a module is: a story (headline, blurb), an ad, or template furniture.

Generic template patterns only: a story link carries a headline (not "More »", "Privacy
policy"), points at an article (not a tag, section, feed or account page), and its card
may hold a teaser; an ad is an ad network's link, an ad's markup, or a "Sponsored" label.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

from lxml.html import HtmlElement

from relevance.io.headings import SPONSORED, heading_kind

HEADING_TAGS = {"h1", "h2", "h3", "h4", "h5", "h6"}
ATTRS = ("class", "id", "aria-label", "data-module", "data-component", "data-type",
         "data-testid", "data-track", "data-section", "role")  # fmt: skip
_AD_ATTR = re.compile(
    r"(?:^|[^a-z])(?:outbrain|taboola|ob-widget|trc_|sponsor|promoted|advert|adslot|ad-slot"
    r"|dfp|gpt-ad|paid-?content|partner-?content|native-?ad|revcontent|zergnet|mgid)",
    re.IGNORECASE,
)
_NAV_ATTR = re.compile(
    r"(?:^|[^a-z])(?:nav|navbar|navigation|menu|breadcrumbs?|share|sharing|social|comments?"
    r"|pagination|pager|tags?|topics|byline|footer-links|subscribe|newsletter|login|signup"
    r"|skip|cookie|toolbar|masthead)(?:$|[^a-z])",
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
_SKIP_HREF = re.compile(r"\s*(?:#|javascript:|mailto:|tel:|sms:|whatsapp:|data:)", re.I)
_SHARE_HREF = re.compile(
    r"(?:facebook\.com/shar|twitter\.com/(?:intent|share)|x\.com/intent|linkedin\.com/share"
    r"|pinterest\.com/pin|reddit\.com/submit|api\.whatsapp|t\.me/share|/share\?|[?&]share="
    r"|/print/|#comments?|/comments?(?:/|$)|\.(?:rss|xml)(?:$|\?)|/(?:feed|rss)/?$"
    r"|/(?:login|signin|sign-in|subscribe|newsletters?|account|register)(?:/|$|\?))",
    re.IGNORECASE,
)
#: Paths of pages that list stories rather than being one: tags, sections, authors.
_LISTING_PATH = re.compile(
    r"/(?:tags?|topics?|category|categories|section|sections|author|authors|writer|writers"
    r"|people|search|about|contact|privacy|terms|help|legal|policies|careers|jobs)(?:/|$)",
    re.IGNORECASE,
)
_GENERIC_LINK = re.compile(
    r"(?:read|see|view|show|load|more|all|next|previous|prev|continue|full story|click here"
    r"|watch|listen|share|comments?|reply|\d+ comments?|subscribe|sign up|log in|here|full list)"
    r"(?:\s+(?:more|all|the|full|story|stories|article|here|comments?|news|now|latest"
    r"|on \S+|in \S+))*\s*[»›>►…]*",
    re.IGNORECASE,
)
_FURNITURE = re.compile(
    r".*\b(?:privacy|cookie|terms of (?:use|service)|policies|contact us|about us|advertise"
    r"|reuse this content|how it works|newsletter|subscribe|sign (?:in|up)|log (?:in|out)"
    r"|rss|site ?map|accessibility|careers|all rights reserved|copyright)\b.*",
    re.IGNORECASE,
)
_BLURB_ATTR = re.compile(
    r"summary|dek|teaser|standfirst|description|excerpt|blurb|intro|lede|subtitle|sub-?head"
    r"|abstract|snippet|deck|strapline",
    re.IGNORECASE,
)
_TITLE_ATTR = re.compile(r"title|headline|heading|hed(?:$|[^a-z])", re.IGNORECASE)
_TIMEISH = re.compile(
    r"(?:\d+\s*(?:min|mins|minutes?|hours?|hrs?|days?|weeks?)\s*(?:ago|read)?|updated.*"
    r"|\d{1,2}:\d{2}.*|by [A-Z].{0,60}|[A-Z][a-z]{2}\.? \d{1,2},? \d{4})",
)
_SPACE = re.compile(r"\s+")


def text_of(node: HtmlElement) -> str:
    return _SPACE.sub(" ", node.text_content() or "").strip()


def attrs(node: HtmlElement) -> str:
    return " ".join(str(node.get(a) or "") for a in ATTRS)


def is_nav(node: HtmlElement) -> bool:
    """Navigation, share, comment and account widgets: their links are never items."""
    tag = node.tag if isinstance(node.tag, str) else ""
    if tag in ("nav", "form", "button", "select"):
        return True
    if node.get("role") in ("navigation", "menu", "menubar", "search"):
        return True
    return bool(_NAV_ATTR.search(f"{node.get('class') or ''} {node.get('id') or ''}"))


def nav_element(node: HtmlElement) -> bool:
    """A <nav> (or role=navigation) element, as opposed to a menu marked by its class."""
    return node.tag == "nav" or node.get("role") == "navigation"


def article_href(href: str) -> bool:
    """An address shaped like one article's: digits, a long slug, or a page file."""
    parts = urlsplit(href)
    if re.search(r"\d", parts.path + parts.query):
        return True
    return any(
        s.count("-") >= 2 or len(s) >= 25 or re.search(r"\.(?:s?html?|php|aspx?|cms|ece)$", s)
        for s in parts.path.split("/")
    )


def is_ad(node: HtmlElement) -> bool:
    return bool(_AD_ATTR.search(attrs(node)))


def link_title(a: HtmlElement) -> str:
    """A link's headline: a title-like child, else its text, else aria-label, title, alt."""
    for el in a.iter():
        if (
            el is not a
            and isinstance(el.tag, str)
            and (el.tag in HEADING_TAGS or _TITLE_ATTR.search(str(el.get("class") or "")))
        ):
            t = text_of(el)
            if len(t) >= 8:
                return t
    t = text_of(a)
    if t:
        return t
    img = next(a.iter("img"), None)
    for value in (a.get("aria-label"), a.get("title"), img.get("alt") if img is not None else None):
        if value and value.strip():
            return _SPACE.sub(" ", value).strip()
    return ""


def skip_href(raw: str) -> bool:
    """Not a story's link: an anchor, a script, a share or account link, a feed."""
    return not raw or bool(_SKIP_HREF.match(raw) or _SHARE_HREF.search(raw))


def headline_like(title: str, in_module: bool = False) -> bool:
    """Text a story link carries (not "More »", "Sign in", "Terms of use").

    Inside a module heading's list shorter titles pass ("Oktoberfest 2011").
    """
    words = title.split()
    if len(title) > 300 or _GENERIC_LINK.fullmatch(title) or _FURNITURE.fullmatch(title):
        return False
    if title.isupper() and len(words) <= 2:
        return False  # a kicker label ("SLIDE SHOW"), not a headline
    if in_module:
        return len(title) >= 10 and len(words) >= 2
    return len(title) >= 15 and (len(words) >= 3 or len(title) >= 25)


def story_href(href: str) -> bool:
    """An article's address, not a listing (tag, section, author) or a site's home page."""
    parts = urlsplit(href)
    path = parts.path or "/"
    if _LISTING_PATH.search(path):
        return False
    segments = [s for s in path.split("/") if s]
    if not segments:
        return bool(parts.query)  # a bare home page is no story; "?id=123" may be
    if len(segments) == 1 and not re.search(r"\d", segments[0]) and segments[0].count("-") < 2:
        return bool(parts.query) or "." in segments[0]  # "/business" is a section
    return True


def is_story_link(title: str, href: str, in_module: bool) -> bool:
    return headline_like(title, in_module) and story_href(href) and heading_kind(title) is None


def blurb_of(card: HtmlElement, title: str) -> str:
    """The teaser text of a card: a summary-like element, else its paragraphs."""
    for el in card.iter():
        if (
            isinstance(el.tag, str)
            and el.tag != "a"
            and _BLURB_ATTR.search(str(el.get("class") or ""))
        ):
            t = text_of(el)
            if t and t != title and len(t) >= 20 and not title.startswith(t):
                return t
    parts = []
    for el in card.iter("p"):
        t = text_of(el)
        if t and t != title and not _TIMEISH.fullmatch(t):
            parts.append(t)
    text = " ".join(parts)
    return text if len(text.split()) >= 5 else ""


def ad_item(href: str, title: str, card: HtmlElement, path: list[HtmlElement]) -> bool:
    """An ad inside a module: an ad network's link, an ad's markup, or a "Sponsored" label."""
    if _AD_HOST.search(urlsplit(href).netloc + "/") or "/sponsored" in href.lower():
        return True
    if any(is_ad(el) for el in path) or any(
        isinstance(el.tag, str) and is_ad(el) for el in card.iter()
    ):
        return True
    for el in card.iter():
        if isinstance(el.tag, str) and el.tag != "a":
            t = text_of(el)
            if t and len(t) <= 40 and _AD_LABEL.fullmatch(t):
                return True
    return bool(SPONSORED.fullmatch(title))
