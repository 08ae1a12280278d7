"""Text cleaning and segmentation shared by training and scoring.

One cleaning function is applied at both times, so a model never sees text
prepared differently from what it was fitted on.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

_TAG = re.compile(r"<[^>]{0,2000}>")
_SPACE = re.compile(r"\s+")
_SENTENCE_END = re.compile(r"(?<=[.!?…])[\"'”’)\]]*\s+(?=[\"'“‘(\[]?[A-Z0-9])")


_ASCII_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")  # category C in ASCII, but \t \n


def clean_text(text: str) -> str:
    """Strip HTML tags, unescape entities, drop control characters, fold whitespace."""
    if not text:
        return ""
    text = _drop_controls(html.unescape(_TAG.sub(" ", text)))
    return _SPACE.sub(" ", text).strip()


def _drop_controls(text: str) -> str:
    """Every character of Unicode category C except tab and newline becomes a space.

    Checked per distinct character, not per character: this runs on every text
    of every feed scored, and articles are long.
    """
    text = _ASCII_CONTROL.sub(" ", text)
    if not text.isascii():
        bad = {ord(ch): " " for ch in set(text) if unicodedata.category(ch)[0] == "C"}
        if bad:
            text = text.translate(bad)
    return text


def item_text(title: str, summary: str) -> str:
    """The text embedded for an item: title and summary, without repeating the title.

    Feeds often cut the title from the summary's first words ("... cut at 110
    chars…"); embedding both would weight the opening twice.
    """
    title, summary = title.strip(), summary.strip()
    if not summary:
        return title
    stem = title.rstrip("….").strip()
    if not stem or summary.startswith(stem):
        return summary
    sep = " " if title.endswith((".", "!", "?", ":")) else ". "
    return f"{title}{sep}{summary}"


@dataclass(frozen=True)
class FeedTexts:
    """The texts a table of feeds is embedded and scored on, assembled in one place."""

    feed_ids: list[Any]  # in first-seen order
    titles: list[str]  # article title per feed
    articles: list[str]  # article text (title and body) per feed
    items: list[str]  # item text (title and summary) per row


def feed_texts(frame: Any) -> FeedTexts:
    """Article texts per feed (first-seen order) and item texts per row of a long table."""
    first = frame.drop_duplicates("feed_id")
    titles = list(first["article_title"])
    articles = [item_text(t, b) for t, b in zip(titles, first["article_body"], strict=True)]
    memo: dict[tuple[str, str], str] = {}  # items recur across the feeds of a table
    items = []
    for pair in zip(frame["item_title"], frame["item_summary"], strict=True):
        text = memo.get(pair)
        if text is None:
            text = memo[pair] = item_text(*pair)
        items.append(text)
    return FeedTexts(list(first["feed_id"]), titles, articles, items)


def split_sentences(text: str) -> list[str]:
    """Split on sentence ends followed by a capital or digit; paragraphs always split."""
    out: list[str] = []
    for para in re.split(r"\n\s*\n|\n", text):
        para = para.strip()
        if para:
            out.extend(s.strip() for s in _SENTENCE_END.split(para) if s.strip())
    return out


def pack_windows(
    sentences: Sequence[str],
    count_tokens: Callable[[Sequence[str]], list[int]],
    max_tokens: int,
    overlap: int = 1,
) -> list[str]:
    """Pack sentences into windows that fit the encoder, overlapping by ``overlap`` sentences.

    Every sentence lands in at least one window, so nothing of a long article is
    dropped; a single sentence longer than the window is cut into word chunks.
    """
    if not sentences:
        return []
    pieces: list[str] = []
    counts = count_tokens(list(sentences))
    for sent, n in zip(sentences, counts, strict=True):
        if n <= max_tokens:
            pieces.append(sent)
            continue
        words = sent.split()
        step = max(1, int(len(words) * max_tokens / n * 0.9))
        pieces.extend(" ".join(words[i : i + step]) for i in range(0, len(words), step))
    sizes = count_tokens(pieces)
    windows: list[str] = []
    start = 0
    while start < len(pieces):
        end, total = start, 0
        while end < len(pieces) and (end == start or total + sizes[end] <= max_tokens):
            total += sizes[end]
            end += 1
        windows.append(" ".join(pieces[start:end]))
        if end >= len(pieces):
            break
        start = max(start + 1, end - overlap)
    return windows


def text_digest(text: str) -> str:
    """sha256 hex of a cleaned text: how a model folder remembers what it was trained on."""
    import hashlib

    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def content_digests(frame: Any) -> dict[str, list[str]]:
    """Sorted digests of a table's distinct article texts and item texts.

    Training records these in the model folder, so that evaluation can recognise training
    data by content (a copy, another format, a subset), not by file bytes.
    """
    texts = feed_texts(frame)
    return {
        "articles": sorted({text_digest(t) for t in texts.articles}),
        "items": sorted({text_digest(t) for t in texts.items}),
    }
