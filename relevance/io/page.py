"""Parse a scraped news page (text) into an article and its recommended items.

A text page is: a title line (optionally ``date <date> Title``, or a date on a line of its
own next to the title), the article body wrapped in site-template boilerplate, then one
or more modules, each a heading ("Recommended Stories", "## Related:", "More in Politics")
followed by its items. The layout rules (bullets, numbers, Markdown links, blurbs) are in
docs/pages.md. Only generic template patterns are removed from the body, so other pages
of the same site parse the same way; the article's own sentences are never matched.
"""

from __future__ import annotations

import datetime
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

from relevance.io.dates import EXPECTED as DATE_EXPECTED
from relevance.io.dates import BadDate, date_line, match_date
from relevance.io.headings import heading_kind, normalize_heading

#: A bullet and its text: ``•`` may touch its text, the others need a space after them.
_BULLET = re.compile(r"(?P<mark>[•*\-·–—])\s+(?P<text>.*)|(?P<tight>•)(?P<ttext>.*)")
_NUMBERED = re.compile(r"(?P<num>\d{1,3})(?P<mark>[.)])(?:\s+(?P<text>.*))?")
_MD_LINK = re.compile(
    r"\[(?P<text>[^\[\]]*)\]\((?P<url>[^()\s]*(?:\([^()\s]*\)[^()\s]*)*)(?:\s+\"[^\"]*\")?\)"
)  # noqa: E501
_MD_HEADING = re.compile(r"#{1,6}\s+(?P<text>.*?)\s*#*")
_DATE_PREFIX = re.compile(r"date\s+", re.IGNORECASE)
_LINK_TAIL = re.compile(r"^[\s\-–—:|·•]+")
_STRONG = re.compile(
    r"(?:recommended|related|more on this (?:story|topic)|read (?:more|next|also)|also read"
    r"|most (?:read|popular|viewed|shared)|top stories|you (?:may|might) also like"
    r"|sponsored|promoted|paid content|around the web)"
    r"(?: (?:stories|articles|news|content|coverage|links|posts|for you))?",
    re.IGNORECASE,
)
_LOOKS_HTML = re.compile(
    r"\s*(?:<!--.*?-->\s*)*(?:<\?xml[^>]*>\s*)?(?:<!doctype\s+html|<html[\s>]|<head[\s>]|<body[\s>])",
    re.IGNORECASE | re.DOTALL,
)
_TAGS = re.compile(r"<(?:html|head|body|div|p|a|article|meta|title|span|ul|li|h[1-6])[\s>/]", re.I)
_OOPS = re.compile(r"(?:[•*\-]\s*)?Oops!")
_OOPS_TAIL = {"Something went wrong.", "Please try again later."}
_IN_THIS_ARTICLE = re.compile(r"In this article:?", re.IGNORECASE)
#: Whole lines the site template adds around every article.
_BOILERPLATE = [
    re.compile(r"[·•]?\s*\d+\s*min(?:ute)?s?\s+read", re.IGNORECASE),
    re.compile(r"Analysis box by\b.*"),
    re.compile(r"Our goal is to create a safe and engaging place\b.*"),
]


#: Most headings quoted in the no-module error.
_SHOWN_HEADINGS = 15


@dataclass(frozen=True)
class PageItem:
    title: str
    blurb: str  # may be ""
    line: int = field(default=0, compare=False)  # of its bullet, to name it in errors
    module: str = ""  # the heading of the module it was listed under
    href: str = ""  # its link, when the page gives one
    self_link: bool | None = None  # links to the article itself; None: the page cannot tell


@dataclass(frozen=True)
class Dropped:
    """Links left out of the items, and why: a sponsored or navigation module, an ad."""

    module: str
    reason: str  # "sponsored" or "navigation"
    count: int


@dataclass(frozen=True)
class Page:
    date: datetime.date | None
    title: str
    body: str  # paragraphs joined with "\n\n"
    items: tuple[PageItem, ...]
    headings: tuple[str, ...] = field(default=(), compare=False)  # every heading seen
    dropped: tuple[Dropped, ...] = field(default=(), compare=False)
    url: str = field(default="", compare=False)  # the article's own address, when known


class PageParseError(ValueError):
    """A page that cannot be parsed; the message says where and what was expected."""

    def __init__(self, source: str, message: str, line: int | None = None):
        self.source, self.line = source, line
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}")

    def __reduce__(self) -> tuple:
        """Rebuilt from its parts, so it survives pickling (Ray sends it between processes)."""
        message = str(self).split(": ", 1)[1] if ": " in str(self) else str(self)
        return (PageParseError, (self.source, message, self.line))


def _norm(line: str) -> str:
    """Unescape entities and fold whitespace, so duplicates compare equal however encoded."""
    return " ".join(html.unescape(line).split())


def _indent(raw: str) -> int:
    raw = raw.lstrip("\ufeff").expandtabs(4)
    return len(raw) - len(raw.lstrip())


def _marker(line: str) -> tuple[str, str] | None:
    """(kind of bullet, text after it) for a bullet or numbered line, else None."""
    m = _BULLET.fullmatch(line)
    if m is not None:
        if m.group("tight"):
            return "•", (m.group("ttext") or "").strip()
        return m.group("mark"), (m.group("text") or "").strip()
    m = _NUMBERED.fullmatch(line)
    if m is not None:
        return "1" + m.group("mark"), (m.group("text") or "").strip()
    return None


def _bullet(line: str) -> str | None:
    """The text after a ``•``, ``*`` or ``-`` bullet (the body's template cards use them)."""
    m = _marker(line)
    return m[1] if m is not None and m[0] in "•*-" else None


def unlink(text: str) -> str:
    """Markdown links as their text: ``[Title](url)`` becomes ``Title``."""
    return _MD_LINK.sub(lambda m: m.group("text"), text)


def _strip_template(lines: list[str]) -> list[str]:
    """Drop template blocks from normalized body lines; removed lines become blanks.

    A removed line turns into a paragraph break rather than vanishing, so text on either
    side of an ad or card is never glued into one paragraph.
    """
    out: list[str] = []
    i, in_cards = 0, False
    while i < len(lines):
        line = lines[i]
        if _OOPS.fullmatch(line):  # "Oops! / Something went wrong. / Please try again later."
            i += 1
            while i < len(lines) and lines[i] in _OOPS_TAIL:
                i += 1
            out.append("")
            continue
        if _IN_THIS_ARTICLE.fullmatch(line):
            in_cards = True
            i += 1
            out.append("")
            continue
        name = _bullet(line)
        # An entity card is "• Name", "Name", one-line description; anything else ends them.
        if in_cards and name and i + 2 < len(lines) and lines[i + 1] == name and lines[i + 2]:
            i += 3
            out.append("")
            continue
        if line:
            in_cards = False
        out.append("" if any(p.fullmatch(line) for p in _BOILERPLATE) else line)
        i += 1
    return out


def _drop_repeats(lines: list[str]) -> list[str]:
    """Drop every copy of a line printed twice in a row (image captions, analysis boxes)."""
    out: list[str] = []
    i = 0
    while i < len(lines):
        j = i + 1
        while lines[i] and j < len(lines) and lines[j] == lines[i]:
            j += 1
        out.extend([lines[i]] if j == i + 1 else [""])
        i = j
    return out


def _paragraphs(lines: list[str]) -> str:
    """Join blank-line separated runs of lines into paragraphs."""
    paras: list[str] = []
    run: list[str] = []
    for line in [*lines, ""]:
        m = _MD_HEADING.fullmatch(line) if line else None
        if m is not None:  # a Markdown subhead is a paragraph of its own
            if run:
                paras.append(" ".join(run))
            paras.append(unlink(m.group("text")))
            run = []
        elif line:
            run.append(unlink(line))
        elif run:
            paras.append(" ".join(run))
            run = []
    return "\n\n".join(p for p in paras if p)


@dataclass(frozen=True)
class _Line:
    no: int  # 1-based line number in the file
    text: str  # normalized
    indent: int


def _title_of(text: str) -> tuple[str, str]:
    """(title, href) of an item line: a leading Markdown link gives both; the rest is blurb."""
    m = _MD_LINK.match(text)
    if m is not None:
        return m.group("text").strip(), m.group("url")
    first = _MD_LINK.search(text)
    return unlink(text).strip(), first.group("url") if first else ""


def _item_starts(lines: list[_Line]) -> list[bool]:
    """Which lines start an item, by the section's layout (see docs/pages.md).

    Bullets: the first bullet fixes the kind and indent of the items; a line with another
    bullet, or indented deeper, is blurb. Without bullets, a line that is a Markdown link
    is an item. Otherwise the least indented lines are items, or, all alike, the first
    line of each blank-separated block.
    """
    marks = [_marker(ln.text) if ln.text else None for ln in lines]
    first = next((i for i, m in enumerate(marks) if m is not None), None)
    if first is not None:
        kind, indent = marks[first][0], lines[first].indent  # type: ignore[index]
        return [
            m is not None and m[0] == kind and ln.indent <= indent
            for ln, m in zip(lines, marks, strict=True)
        ]  # noqa: E501
    links = [bool(ln.text) and _MD_LINK.match(ln.text) is not None for ln in lines]
    if any(links):
        return links
    texts = [ln for ln in lines if ln.text]
    if not texts:
        return [False] * len(lines)
    low = min(ln.indent for ln in texts)
    if any(ln.indent > low for ln in texts):
        return [bool(ln.text) and ln.indent == low for ln in lines]
    first, last = lines.index(texts[0]), lines.index(texts[-1])
    if all(ln.text for ln in lines[first : last + 1]):  # no blank line: one item a line
        return [bool(ln.text) for ln in lines]
    return [bool(ln.text) and (i == 0 or not lines[i - 1].text) for i, ln in enumerate(lines)]


def _section_items(lines: list[_Line], module: str, source: str) -> list[PageItem]:
    """A module's items; blurb lines follow their item, text before the first item is template."""
    starts = _item_starts(lines)
    items: list[tuple[str, str, list[str], int]] = []
    for ln, start in zip(lines, starts, strict=True):
        if start:
            mark = _marker(ln.text)
            text = mark[1] if mark is not None else ln.text
            if not text:
                raise PageParseError(source, f"bullet {ln.text!r}: expected an item title", ln.no)
            title, href = _title_of(text)
            m = _MD_LINK.match(text)
            tail = _LINK_TAIL.sub("", text[m.end() :]).strip() if m else ""
            items.append((title, href, [unlink(tail)] if tail else [], ln.no))
        elif ln.text and items:
            items[-1][2].append(unlink(ln.text))
    return [PageItem(t, " ".join(b), at, module, href) for t, href, b, at in items]


def _title_line(line: str, lineno: int, source: str) -> tuple[datetime.date | None, str]:
    """Split ``date <date> Title``; a line without the prefix is all title."""
    m = _DATE_PREFIX.match(line)
    if m is None:
        return None, line
    rest = line[m.end() :]
    value = rest.split(maxsplit=1)[0] if rest.strip() else ""
    try:
        found = match_date(rest)
    except BadDate as bad:
        raise PageParseError(
            source, f"bad date {bad.args[0]!r}: expected {DATE_EXPECTED}", lineno
        ) from None  # noqa: E501
    if found is None:
        if not re.search(r"\d", value):
            return None, line  # "date night ideas": a title, not a date
        raise PageParseError(source, f"bad date {value!r}: expected {DATE_EXPECTED}", lineno)
    date, end = found
    title = rest[end:].strip()
    if not title:
        raise PageParseError(
            source, f"no title after date {rest.strip()!r}: expected 'date <date> Title'", lineno
        )  # noqa: E501
    return date, title


def _date_only(line: str, lineno: int, source: str) -> datetime.date | None:
    try:
        return date_line(line)
    except BadDate as bad:
        raise PageParseError(
            source, f"bad date {bad.args[0]!r}: expected {DATE_EXPECTED}", lineno
        ) from None  # noqa: E501


def looks_like_html(head: str) -> bool:
    """HTML by content: a doctype or an html/head/body tag first, or markup from the start."""
    head = head.lstrip("\ufeff")
    if _LOOKS_HTML.match(head):
        return True
    return head.lstrip().startswith("<") and len(_TAGS.findall(head[:4096])) >= 3


def parse_page(text: str, source: str = "<text>") -> Page:
    """Parse page text; raises PageParseError naming ``source`` and the line."""
    if looks_like_html(text[:4096]):
        raise PageParseError(
            source, "this is HTML, not a text page: name it .html or pass --input-format html", 1
        )
    raw = text.lstrip("\ufeff").splitlines()
    lines = [_Line(no, _norm(r), _indent(r)) for no, r in enumerate(raw, 1)]
    texts = [ln.text for ln in lines]
    start = next((i for i, t in enumerate(texts) if t), None)
    if start is None:
        raise PageParseError(source, "empty page: expected a title line")
    if _is_heading(texts[start]) and _module_follows(lines, start):
        raise PageParseError(source, f"expected a title line before {texts[start]!r}", start + 1)
    date = _date_only(texts[start], start + 1, source)
    if date is not None:  # a date line above the title
        start = next((i for i in range(start + 1, len(texts)) if texts[i]), None)
        if start is None:
            raise PageParseError(source, "no title after the date line", len(texts))
        title_date, title = None, texts[start]
    else:
        title_date, title = _title_line(texts[start], start + 1, source)
    title = _heading_text(title)
    rest = lines[start + 1 :]
    after = next((i for i, ln in enumerate(rest) if ln.text), None)
    if date is None and title_date is None and after is not None:
        date = _date_only(rest[after].text, rest[after].no, source)
        if date is not None:
            rest = rest[after + 1 :]
    date = date or title_date
    cuts = [i for i, ln in enumerate(rest) if _is_heading(ln.text) and _module_follows(rest, i)]
    body_end = cuts[0] if cuts else len(rest)
    body = _paragraphs(_drop_repeats(_strip_template([ln.text for ln in rest[:body_end]])))
    items: list[PageItem] = []
    dropped: list[Dropped] = []
    headings = [_heading_text(ln.text) for ln in rest[:body_end] if _MD_HEADING.fullmatch(ln.text)]
    for k, cut in enumerate(cuts):
        end = cuts[k + 1] if k + 1 < len(cuts) else len(rest)
        module = _heading_text(rest[cut].text)
        headings.append(module)
        kind = heading_kind(module)
        section = _section_items(rest[cut + 1 : end], module, source)
        if kind == "stories":
            items.extend(section)
        elif section:
            dropped.append(Dropped(module, kind or "other", len(section)))
    return Page(date, title, body, tuple(items), tuple(headings), tuple(dropped))


def _heading_text(line: str) -> str:
    """A heading or title line without its Markdown marks."""
    m = _MD_HEADING.fullmatch(line)
    return (m.group("text") if m else line).strip()


def _is_heading(line: str) -> bool:
    """A module heading line: short, not a bullet, and saying what a module is."""
    if not line or len(line) > 80 or _marker(line) is not None:
        return False
    return heading_kind(normalize_heading(line)) is not None


def _module_follows(lines: list[_Line], at: int) -> bool:
    """Whether the heading at ``at`` opens a module rather than titling a paragraph.

    A strong heading ("Recommended Stories", "Related:", "Most read") always does; a
    looser one ("More in Politics", "Latest") only when bullets or links follow it.
    """
    if _STRONG.fullmatch(normalize_heading(_heading_text(lines[at].text))):
        return True
    for ln in lines[at + 1 :]:
        if _is_heading(ln.text):
            return False
        if ln.text and (_marker(ln.text) is not None or _MD_LINK.match(ln.text)):
            return True
    return False


def no_module_message(headings: tuple[str, ...] | list[str], dropped=()) -> str:
    """The error of a page without a module: what was expected, and the headings it has."""
    seen = list(dict.fromkeys(h for h in headings if h))
    shown = ", ".join(repr(h) for h in seen[:_SHOWN_HEADINGS])
    more = f" and {len(seen) - _SHOWN_HEADINGS} more" if len(seen) > _SHOWN_HEADINGS else ""
    left = "".join(f"; left out {d.count} links of {d.module!r} ({d.reason})" for d in dropped)
    return (
        "no recommended-stories list found: expected a module heading such as 'Related', "
        f"'More on this story' or 'Most read' followed by its items; headings seen: "
        f"{shown or 'none'}{more}{left}"
    )


def read_page(path: str | Path) -> Page:
    """Read a UTF-8 page file; bad bytes are reported with the file and byte offset."""
    path = Path(path)
    data = path.read_bytes()
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        bad = data[e.start : e.start + 4]
        raise PageParseError(
            str(path), f"byte offset {e.start}: {bad!r} is not valid UTF-8", line
        ) from None
    return parse_page(text, str(path))


def looks_like_page(text: str) -> bool:
    """Cheap check telling a page from a JSONL feeds file (whose lines start with "{")."""
    head = text.lstrip("\ufeff \t\r\n")
    if not head or head.startswith("{"):
        return False
    first = head.split("\n", 1)[0].strip()
    if _DATE_PREFIX.match(first):
        return True
    return any(_is_heading(_norm(line)) for line in text.splitlines())
