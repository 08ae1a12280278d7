"""What a module heading says: recommended stories, sponsored links, or something else.

One vocabulary for both page readers (text and HTML), so a heading means the same in
either. Patterns are generic template wording ("Related", "More in X", "Most read"),
never one site's, and a few common non-English forms, since publishers' templates
are translated rather than rewritten.
"""

from __future__ import annotations

import re

#: Punctuation and marks that decorate a heading without changing it.
_DECOR = re.compile(r"^[\s#*_>|:»›▸▶►•·\-–—]+|[\s#*_:»›▸▶►.…|\-–—\d()\[\]]+$")
_SPACE = re.compile(r"\s+")

_STORIES = r"(?:stories|story|articles?|news|coverage|content|items|posts|reads?|reading|links|headlines|videos?)"  # noqa: E501
#: Headings of recommended / related story modules, matched against the whole heading.
_MODULE = re.compile(
    r"(?:"
    r"more (?:on|about) (?:this|the) (?:story|topic|subject|issue)"
    r"|more (?:on|in|from|about|of|like this|top|stories|news|headlines|to read|to explore)"
    r"\b.{0,60}"
    r"|(?:related|similar)(?: \w+){0,3}(?: (?:on|from|in|at) \S.{0,40})?"
    r"|recommended(?: \w+){0,3}|recommendations?(?: \w+){0,2}|we recommend|suggested(?: \w+){0,2}"
    r"|read (?:more|next|also|this next)\b.{0,40}|also read|also on \S.{0,40}|what to read next"
    r"|(?:keep|continue) reading|up next|next up|watch next"
    r"|(?:\S.{0,30} )?(?:(?:the )?most (?:read|popular|viewed|shared|emailed|e-mailed"
    r"|commented|watched|recent) ?)+"
    rf"(?: {_STORIES}| this week| today| now| on \S.{{0,30}}| in \S.{{0,30}})*"
    r"|(?:top|latest|trending|popular|breaking|featured|recent|editors?'? ?|editor's|more) ?"
    rf"(?:\w+ ){{0,2}}(?:stories|articles|news|headlines|posts|picks|choice"
    rf"|in \S.{{0,30}}|on \S.{{0,30}}|{_STORIES})"
    r"(?: now| today| this week| right now)?"
    r"|top stories|trending(?: \w+)?|popular(?: now| today| right now)?|latest|featured"
    r"|(?:you|we think you) (?:may|might|will|would|could) (?:also )?(?:like|enjoy|be interested in)(?: \w+){0,3}"  # noqa: E501
    r"|(?:also|further|more) (?:of interest|interesting|worth reading|reading)"
    r"|(?:part of )?(?:full|complete|special|continuing|latest|more|live) coverage(?: on| of)?"
    r"|explore (?:further|more)|in (?:the )?\S.{0,30} news|also in \S.{0,30}"
    r"|further reading|see also|don'?t miss(?: \w+){0,2}|in case you missed it|must reads?"
    r"|(?:in|from) (?:other|related) news|elsewhere(?: on \S.{0,30})?|around the site"
    r"|what (?:we're|we are|people are) reading|what'?s (?:new|hot|trending|popular)"
    r"|most read (?:in|on) \S.{0,30}|editors?'? ?(?:picks?|choices?|recommendations?|selection)"
    # German, French, Spanish, Italian, Dutch, Portuguese template wording.
    r"|mehr (?:zum thema|zu diesem thema|aus \S.{0,30}|dazu|lesen)"
    r"|weitere (?:artikel|nachrichten|themen)"
    r"|das könnte sie (?:auch )?interessieren|lesen sie (?:auch|mehr)|auch interessant|meistgelesen"
    r"|à lire (?:aussi|également)|lire aussi|sur le même sujet|les plus lus|articles? similaires"
    r"|noticias relacionadas|te puede interesar|lo más (?:leído|visto)|también te puede interesar"
    r"|leggi anche|potrebbe interessarti|i più letti|lees ook|meest gelezen|leia também|mais lidas"
    r")"
    r"(?: (?:on|in|from|at) \S.{0,40})?",  # "Top stories on TIME.com", "Most read in Sport"
    re.IGNORECASE,
)
#: Sponsored and advertising modules: never items (their links are dropped, and counted).
SPONSORED = re.compile(
    r"\b(?:sponsored|sponsor|promoted|paid (?:content|post|partner\w*|for by)|advertorial"
    r"|advertisement|advertising|anzeige|publicité|publicidad|partner (?:content|stories|offers)"
    r"|from (?:our|the) partners?|around the web|from the web|elsewhere on the web"
    r"|outbrain|taboola|revcontent|zergnet|mgid)\b",
    re.IGNORECASE,
)
#: Lists that look related but are navigation: topics, tags, people, jobs, searches.
_NAVIGATION = re.compile(
    r"\b(?:topics?|tags?|subjects?|searches|categories|category|keywords?|sections?"
    r"|contributors?|jobs?|briefings?|programs?|programmes?|podcasts?|newsletters?"
    r"|products?|links? (?:to|for)|changes|people|places|companies|quotes|tickers?)\b",
    re.IGNORECASE,
)


def normalize_heading(text: str) -> str:
    """A heading without Markdown marks, decorations or a trailing colon, spaces folded."""
    text = _SPACE.sub(" ", text.replace("\u2019", "'")).strip()
    return _DECOR.sub("", text).strip()


def heading_kind(text: str) -> str | None:
    """``"stories"``, ``"sponsored"``, ``"navigation"`` for a module heading, else None.

    The whole (normalized) heading must match: a sentence that starts with "Related" is
    not a heading. ``"navigation"`` is a related-looking list that holds no stories
    (related topics, tags, authors).
    """
    name = normalize_heading(text)
    if not name or len(name) > 80:
        return None
    if SPONSORED.search(name):
        return "sponsored"
    if not _MODULE.fullmatch(name):
        return None
    return "navigation" if _NAVIGATION.search(name) else "stories"


def is_module_heading(text: str) -> bool:
    """True for the heading of a recommended-stories module."""
    return heading_kind(text) == "stories"
