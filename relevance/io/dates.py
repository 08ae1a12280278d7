"""Dates as pages print them: ISO, day-month-year with any separator, or in words.

A value that is shaped like a date but is not a real one (2022-13-45, 30.02.2020) is an
error for the caller to report; text that is not shaped like a date is not a date.
"""

from __future__ import annotations

import datetime
import re

_MONTHS = {
    name: i
    for i, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<mon>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_WEEKDAY = r"(?:(?:mon|tue|tues|wed|thu|thur|thurs|fri|sat|sun)[a-z]*\.?,?\s+)?"
_TIME = r"(?:(?:T|\s+|,\s*|\s+at\s+)\d{1,2}[:.]\d{2}(?:[:.]\d{2}(?:\.\d+)?)?(?:\s*[ap]\.?m\.?)?(?-i:\s*(?:Z|UTC|GMT|[ECMP][SD]T|BST|CES?T|[+-]\d{2}:?\d{2}))?)?"  # noqa: E501
#: Alternatives, tried in order; each names its parts.
_SHAPES = [
    r"(?P<y>\d{4})(?P<s>[-/.])(?P<m>\d{1,2})(?P=s)(?P<d>\d{1,2})",  # 2019-11-19
    r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})",  # 20191119 (ISO basic)
    r"(?P<a>\d{1,2})(?P<s>[-/.])(?P<b>\d{1,2})(?P=s)(?P<y>\d{4})",  # 19-11-2019, 11/19/2019
    rf"{_WEEKDAY}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\.?\s+{_MONTH},?\s+(?P<y>\d{{4}})",
    rf"{_WEEKDAY}{_MONTH}\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+(?P<y>\d{{4}})",
]
_ONE = [re.compile(f"(?:{s}){_TIME}", re.I) for s in _SHAPES]
#: Words that may stand before a date on a line of its own.
_LEAD = re.compile(r"(?:date|dated|published|updated|posted|last updated|on)\s*:?\s*", re.I)

EXPECTED = "a real calendar date such as 2019-11-19, 19-11-2019, 11/19/2019 or 19 November 2019"


class BadDate(ValueError):
    """Shaped like a date, but not a real one."""


def match_date(text: str) -> tuple[datetime.date, int] | None:
    """The date at the start of ``text`` and where it ends, or None when none starts it.

    Raises BadDate for a date-shaped value that is no calendar date. Numeric
    day/month order: the part over 12 is the day; when both are 12 or less, a ``/``
    means month first (11/19/2019 style) and ``-`` or ``.`` day first.
    """
    for shape in _ONE:
        m = shape.match(text)
        if m is None:
            continue
        end = m.end()
        if end < len(text) and not text[end].isspace():  # "2019-11-19x" is no date
            continue
        return _build(m.groupdict(), m.group(0)), end
    return None


def _build(g: dict, raw: str) -> datetime.date:
    year = int(g["y"])
    if g.get("mon"):
        month, day = _MONTHS[g["mon"].lower()], int(g["d"])
    elif g.get("a"):
        a, b = int(g["a"]), int(g["b"])
        month_first = b > 12 or (a <= 12 and g["s"] == "/")
        month, day = (a, b) if month_first else (b, a)
    else:
        month, day = int(g["m"]), int(g["d"])
    try:
        return datetime.date(year, month, day)
    except ValueError:
        raise BadDate(raw) from None


def date_line(text: str) -> datetime.date | None:
    """The date when the whole line is one (``Published 19 Nov 2019, 10:00``), else None."""
    lead = _LEAD.match(text)
    rest = text[lead.end() :] if lead else text
    found = match_date(rest)
    if found is None or rest[found[1] :].strip():
        return None
    return found[0]
