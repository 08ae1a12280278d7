"""A deterministic, offline stand-in for the sentence encoder.

Each word hashes to a fixed random direction; a text is the normalised sum of
its words. Texts sharing words are close, so topical structure survives and
the model's features behave as with a real encoder, at no cost.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import numpy as np
import pandas as pd

DIM = 48


def _word_vector(word: str) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(word.encode()).digest()[:8], "little")
    return np.random.default_rng(seed).standard_normal(DIM)


class FakeEmbedder:
    model_id = "fake-hashing-embedder"
    max_tokens = 32
    backend = "fake"

    def __init__(self, salt: str = "") -> None:
        self.salt = salt
        self.calls = 0
        self.texts_encoded = 0

    @property
    def fingerprint(self) -> str:
        return hashlib.sha256(f"fake:{DIM}:{self.salt}".encode()).hexdigest()

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls += 1
        self.texts_encoded += len(texts)
        out = np.zeros((len(texts), DIM))
        for i, text in enumerate(texts):
            for word in text.lower().split():
                out[i] += _word_vector(self.salt + word.strip(".,!?\"'"))
        out += 1e-6
        return (out / np.linalg.norm(out, axis=1, keepdims=True)).astype(np.float32)

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


TOPICS = {
    "flood": "river flood rain water levee evacuation storm dam rescue villages",
    "election": "vote ballot election candidate parliament campaign poll party count",
    "football": "match goal league striker coach stadium season cup fans penalty",
    "market": "stocks shares investors market index trading earnings dividend bank",
    "vaccine": "vaccine virus outbreak health doses hospital clinic infection trial",
    "wildfire": "fire wildfire blaze firefighters smoke forest hectares burn evacuate",
}
FILLER = [
    *("the", "a", "of", "in", "on", "and", "to"),
    *("with", "after", "said", "officials", "report", "new", "week"),
]


def _sentence(rng: np.random.Generator, topic: str, n: int = 8) -> str:
    words = TOPICS[topic].split()
    picks = list(rng.choice(words, size=n - 3)) + list(rng.choice(FILLER, size=3))
    rng.shuffle(picks)
    return " ".join(picks).capitalize() + "."


def _mixed(rng: np.random.Generator, topic: str, other: str, n: int = 10) -> str:
    """A related story: half the article's topic words, half another topic's."""
    a = list(rng.choice(TOPICS[topic].split(), size=n // 2))
    b = list(rng.choice(TOPICS[other].split(), size=n - n // 2))
    picks = a + b
    rng.shuffle(picks)
    return " ".join(picks).capitalize() + "."


def make_feeds(
    n_feeds: int = 24, n_items: int = 8, seed: int = 0, graded: bool = False
) -> list[dict]:
    """Synthetic labelled feeds: relevant items share the article's topic.

    ``graded``: items also carry ``grade``; a quarter of the off-topic ones become related
    stories (grade 1: half the article's topic words), the relevant ones grade 2.
    """
    rng = np.random.default_rng(seed)
    names = sorted(TOPICS)
    feeds = []
    for f in range(n_feeds):
        topic = names[f % len(names)]
        body = " ".join(_sentence(rng, topic) for _ in range(3))
        items = []
        n_relevant = max(1, n_items // 3)
        for i in range(n_items):
            relevant = i < n_relevant
            related = graded and not relevant and i < n_relevant + max(1, n_items // 4)
            other = topic if relevant else names[(f + 1 + i) % len(names)]
            if other == topic and not relevant:
                other = names[(names.index(topic) + 1) % len(names)]
            text = _mixed(rng, topic, other) if related else _sentence(rng, other, 10)
            item = {"id": f"f{f}-i{i}", "title": text[:30], "summary": text, "label": int(relevant)}
            if graded:
                item["grade"] = 2 if relevant else 1 if related else 0
            items.append(item)
        order = rng.permutation(n_items)
        feeds.append(
            {
                "feed_id": f"feed-{f:03d}",
                "article": {"title": body[:40], "body": body},
                "items": [items[j] for j in order],
            }
        )
    return feeds


def feeds_frame(
    n_feeds: int = 24, n_items: int = 8, seed: int = 0, graded: bool = False
) -> pd.DataFrame:
    from relevance.io.schema import Feed, feeds_to_frame

    feeds = make_feeds(n_feeds, n_items, seed, graded)
    return feeds_to_frame(Feed.model_validate(f) for f in feeds)
