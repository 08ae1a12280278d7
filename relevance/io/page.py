"""Parse a scraped news page (article + "Recommended Stories") into an article and its items.

The scraper writes plain text: an optional ``date YYYY-MM-DD`` prefix on the title line, the
article body wrapped in site-template boilerplate, then a bulleted list of recommended
stories. Only generic template patterns are removed, so other pages of the same site parse
the same way; the article's own sentences are never matched.
"""

from __future__ import annotations

import datetime
import html
import re
from dataclasses import dataclass, field
from pathlib import Path

_BULLET = re.compile(r"[•*\-]\s+(.*)|•(.*)")
_DATE_LINE = re.compile(r"date\s+(\S*\d\S*)(?:\s+(.*))?")
_ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_RECOMMENDED = re.compile(r"recommended stories", re.IGNORECASE)
_LOOKS_RECOMMENDED = re.compile(r"^[ \t]*recommended stories[ \t]*\r?$", re.I | re.M)
_LOOKS_DATE = re.compile(r"date\s+\d{4}-\d{2}-\d{2}(?:\s|$)")
_OOPS = re.compile(r"(?:[•*\-]\s*)?Oops!")
_OOPS_TAIL = {"Something went wrong.", "Please try again later."}
_IN_THIS_ARTICLE = re.compile(r"In this article:?", re.IGNORECASE)
#: Whole lines the site template adds around every article.
_BOILERPLATE = [
    re.compile(r"[·•]?\s*\d+\s*min(?:ute)?s?\s+read", re.IGNORECASE),
    re.compile(r"Analysis box by\b.*"),
    re.compile(r"Our goal is to create a safe and engaging place\b.*"),
]


@dataclass(frozen=True)
class PageItem:
    title: str
    blurb: str  # may be ""
    line: int = field(default=0, compare=False)  # of its bullet, to name it in errors


@dataclass(frozen=True)
class Page:
    date: datetime.date | None
    title: str
    body: str  # paragraphs joined with "\n\n"
    items: tuple[PageItem, ...]


class PageParseError(ValueError):
    """A page that cannot be parsed; the message says where and what was expected."""

    def __init__(self, source: str, message: str, line: int | None = None):
        self.source, self.line = source, line
        where = source if line is None else f"{source}:{line}"
        super().__init__(f"{where}: {message}")


def _norm(line: str) -> str:
    """Unescape entities and fold whitespace, so duplicates compare equal however encoded."""
    return " ".join(html.unescape(line).split())


def _bullet(line: str) -> str | None:
    """The text after a bullet, or None when the (normalized) line is not a bullet."""
    m = _BULLET.fullmatch(line)
    return None if m is None else (m.group(1) or m.group(2) or "").strip()


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
        if line:
            run.append(line)
        elif run:
            paras.append(" ".join(run))
            run = []
    return "\n\n".join(paras)


def _items(lines: list[str], first_lineno: int, source: str) -> tuple[PageItem, ...]:
    """Bulleted items; the non-bullet lines up to the next bullet are the blurb."""
    items: list[tuple[str, list[str], int]] = []
    for lineno, line in enumerate(lines, first_lineno):
        title = _bullet(line)
        if title is not None:
            if not title:
                raise PageParseError(source, f"bullet {line!r}: expected an item title", lineno)
            items.append((title, [], lineno))
        elif line and items:  # text before the first bullet is template, not an item
            items[-1][1].append(line)
    return tuple(PageItem(title, " ".join(blurb), at) for title, blurb, at in items)


def _title_line(line: str, lineno: int, source: str) -> tuple[datetime.date | None, str]:
    """Split ``date YYYY-MM-DD Title``; a line without the prefix is all title."""
    m = _DATE_LINE.fullmatch(line)
    if m is None:
        return None, line
    value, title = m.group(1), (m.group(2) or "").strip()
    expected = "expected 'date YYYY-MM-DD Title' with a real calendar date"
    try:
        if not _ISO_DATE.fullmatch(value):
            raise ValueError(value)
        date = datetime.date.fromisoformat(value)
    except ValueError:
        raise PageParseError(source, f"bad date {value!r}: {expected}", lineno) from None
    if not title:
        raise PageParseError(source, f"no title after date {value!r}: {expected}", lineno)
    return date, title


def parse_page(text: str, source: str = "<text>") -> Page:
    """Parse page text; raises PageParseError naming ``source`` and the line."""
    lines = [_norm(line) for line in text.lstrip("\ufeff").splitlines()]
    start = next((i for i, line in enumerate(lines) if line), None)
    if start is None:
        raise PageParseError(source, "empty page: expected a title line")
    if _RECOMMENDED.fullmatch(lines[start]):
        raise PageParseError(
            source, "expected a title line before 'Recommended Stories'", start + 1
        )
    date, title = _title_line(lines[start], start + 1, source)
    rest = lines[start + 1 :]
    cut = next((i for i, line in enumerate(rest) if _RECOMMENDED.fullmatch(line)), len(rest))
    body = _paragraphs(_drop_repeats(_strip_template(rest[:cut])))
    items = _items(rest[cut + 1 :], start + cut + 3, source)
    return Page(date=date, title=title, body=body, items=items)


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
    return bool(_LOOKS_DATE.match(first) or _LOOKS_RECOMMENDED.search(text))
