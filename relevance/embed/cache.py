"""A persistent embedding cache, so a text is encoded once per model, ever.

Vectors live in SQLite keyed by (model fingerprint, sha256 of the text): a
changed model never serves stale vectors, and the texts themselves are not
stored. WAL mode lets several processes read and write the same file.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import numpy as np

from relevance.embed.encoder import Embedder

SCHEMA_VERSION = 1
DB_NAME = "embeddings.sqlite3"
CHUNK = 500  # keys per query: well under SQLite's 999 bound parameters
BUSY_TIMEOUT_MS = 30_000
_DTYPE = np.dtype("<f4")  # fixed byte order, so a cache file is portable


class CacheError(RuntimeError):
    """The cache database is corrupt, unreadable or from another schema."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/relevance``, else ``~/.cache/relevance``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "relevance"


def text_key(text: str) -> str:
    """sha256 hex of the UTF-8 text: fixed-size keys whatever the text's length."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class EmbeddingCache:
    """Float32 vectors on disk, keyed by (model fingerprint, text).

    One connection per instance; calls are serialised by a lock, so an instance
    may be shared between threads. Other processes may open the same file.
    """

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.path = self.directory / DB_NAME
        self._lock = threading.Lock()
        self.directory.mkdir(parents=True, exist_ok=True)
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise CacheError(f"{self.path}: cannot open embedding cache: {exc}") from exc
        self._conn: sqlite3.Connection | None = conn
        try:
            with self._errors():
                self._setup(conn)
        except BaseException:
            self.close()
            raise

    def _setup(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, SCHEMA_VERSION):
            raise CacheError(f"{self.path}: cache schema {version}, expected {SCHEMA_VERSION}")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS embeddings ("
            " fingerprint TEXT NOT NULL, text_sha256 TEXT NOT NULL,"
            " dim INTEGER NOT NULL, vector BLOB NOT NULL,"
            " PRIMARY KEY (fingerprint, text_sha256)) WITHOUT ROWID"
        )
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    @contextmanager
    def _errors(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock; turn SQLite's errors into ones that name the file."""
        with self._lock:
            if self._conn is None:
                raise CacheError(f"{self.path}: embedding cache is closed")
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                raise CacheError(f"{self.path}: embedding cache unusable: {exc}") from exc

    def get_many(self, fingerprint: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        """Each text's cached vector, or None where absent; aligned with ``texts``."""
        keys = [text_key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        with self._errors() as conn:
            for start in range(0, len(keys), CHUNK):
                chunk = list(dict.fromkeys(keys[start : start + CHUNK]))
                marks = ",".join("?" * len(chunk))
                rows = conn.execute(
                    "SELECT text_sha256, dim, vector FROM embeddings"
                    f" WHERE fingerprint = ? AND text_sha256 IN ({marks})",
                    [fingerprint, *chunk],
                )
                for key, dim, blob in rows:
                    vector = np.frombuffer(blob, dtype=_DTYPE)
                    if vector.shape != (dim,):
                        raise CacheError(f"{self.path}: entry {key} has a damaged vector")
                    found[key] = vector.astype(np.float32)
        return [found.get(k) for k in keys]

    def put_many(self, fingerprint: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store rows in one transaction: a failure leaves the cache as it was."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(f"{len(texts)} texts but vectors of shape {vectors.shape}")
        vectors = vectors.astype(_DTYPE, copy=False)
        dim = int(vectors.shape[1])
        rows = (
            (fingerprint, text_key(t), dim, v.tobytes())
            for t, v in zip(texts, vectors, strict=True)
        )
        with self._errors() as conn:
            conn.execute("BEGIN IMMEDIATE")  # take the write lock now, not mid-batch
            try:
                conn.executemany(
                    "INSERT OR IGNORE INTO embeddings (fingerprint, text_sha256, dim, vector)"
                    " VALUES (?, ?, ?, ?)",
                    rows,
                )
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            conn.execute("COMMIT")

    def dimension(self, fingerprint: str) -> int | None:
        """The vector size stored for a model, if any; lets empty batches skip the model."""
        with self._errors() as conn:
            row = conn.execute(
                "SELECT dim FROM embeddings WHERE fingerprint = ? LIMIT 1", (fingerprint,)
            ).fetchone()
        return None if row is None else int(row[0])

    def stats(self) -> dict[str, int]:
        """Entry and model counts, and the bytes of vector data held."""
        with self._errors() as conn:
            entries, models, size = conn.execute(
                "SELECT COUNT(*), COUNT(DISTINCT fingerprint), COALESCE(SUM(LENGTH(vector)), 0)"
                " FROM embeddings"
            ).fetchone()
        return {"entries": entries, "models": models, "bytes": size}

    def close(self) -> None:
        """Close the connection; safe to call twice."""
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def __enter__(self) -> EmbeddingCache:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class CachedEmbedder:
    """An Embedder that encodes only texts the cache has not seen for this model.

    A fully cached batch never calls the inner encoder, so a lazily loaded model
    is never loaded. ``hits``/``misses`` count unique texts per ``encode`` call;
    ``encoded`` counts texts actually sent to the inner encoder. ``in_memory``
    bounds an LRU of vectors in front of SQLite (0 turns it off). With ``cache`` None
    the LRU alone remembers vectors (one process, nothing on disk: ``--no-cache``
    training still encodes each text once).
    """

    def __init__(self, inner: Embedder, cache: EmbeddingCache | None, in_memory: int = 100_000):
        self.inner = inner
        self.cache = cache
        self.model_id = inner.model_id
        self.max_tokens = inner.max_tokens
        self.backend = getattr(inner, "backend", "torch")  # saved in model folders
        self.in_memory = in_memory
        self.hits = 0
        self.misses = 0
        self.encoded = 0
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._tokens: dict[str, int] = {}

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def hit_rate(self) -> float:
        seen = self.hits + self.misses
        return self.hits / seen if seen else 0.0

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        """The inner tokenizer's counts, remembered: an article recurs across many feeds."""
        if self.in_memory <= 0:
            return self.inner.count_tokens(texts)
        counts = self._tokens
        missing = [t for t in dict.fromkeys(texts) if t not in counts]
        if missing:
            if len(counts) + len(missing) > self.in_memory:
                counts.clear()
            counts.update(zip(missing, self.inner.count_tokens(missing), strict=True))
        return [counts[t] for t in texts]

    def _remember(self, key: str, vector: np.ndarray) -> None:
        if self.in_memory <= 0:
            return
        self._memory[key] = vector
        self._memory.move_to_end(key)
        while len(self._memory) > self.in_memory:
            self._memory.popitem(last=False)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        fingerprint = self.fingerprint
        unique = list(dict.fromkeys(texts))
        keys = [text_key(t) for t in unique]
        found: list[np.ndarray | None] = [self._memory.get(k) for k in keys]
        for k, v in zip(keys, found, strict=True):
            if v is not None:
                self._memory.move_to_end(k)
        ask = [i for i, v in enumerate(found) if v is None]
        if ask and self.cache is not None:
            stored = self.cache.get_many(fingerprint, [unique[i] for i in ask])
            for i, v in zip(ask, stored, strict=True):
                if v is not None:
                    found[i] = v
                    self._remember(keys[i], v)
        missing = [i for i, v in enumerate(found) if v is None]
        self.hits += len(unique) - len(missing)
        self.misses += len(missing)
        if missing:
            new = np.asarray(self.inner.encode([unique[i] for i in missing]), dtype=np.float32)
            if new.ndim != 2 or new.shape[0] != len(missing):
                raise ValueError(f"inner encoder returned {new.shape} for {len(missing)} texts")
            if self.cache is not None:
                self.cache.put_many(fingerprint, [unique[i] for i in missing], new)
            self.encoded += len(missing)
            for i, v in zip(missing, new, strict=True):
                found[i] = v.copy()
                self._remember(keys[i], found[i])
        if not unique:
            dim = self.cache.dimension(fingerprint) if self.cache is not None else None
            if dim is None:
                return np.asarray(self.inner.encode([]), dtype=np.float32)
            return np.zeros((0, dim), dtype=np.float32)
        position = {t: i for i, t in enumerate(unique)}
        table = np.stack(found)  # type: ignore[arg-type]
        return table[[position[t] for t in texts]]


def cached(
    embedder: Embedder,
    cache_dir: str | Path | None = None,
    in_memory: int = 100_000,
) -> CachedEmbedder:
    """``embedder`` behind the on-disk cache in ``cache_dir`` (default ``default_cache_dir()``).

    Scoring and training both wrap their encoder with this, so a text embedded by
    one is never encoded again by the other. Wrapping twice is a no-op.
    """
    if isinstance(embedder, CachedEmbedder):
        return embedder
    return CachedEmbedder(embedder, EmbeddingCache(cache_dir), in_memory=in_memory)
