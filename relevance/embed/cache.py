"""A persistent embedding cache, so a text is encoded once per model, ever.

Vectors live in SQLite keyed by (model fingerprint, sha256 of the text): a
changed model never serves stale vectors, and the texts themselves are not
stored. WAL mode lets several processes read and write the same file. Every row
carries a checksum and every vector read is checked, so a damaged file can cost
time (its texts are encoded again) but never change a score.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sqlite3
import threading
import time
from collections import Counter, OrderedDict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType

import numpy as np

from relevance.embed.encoder import Embedder

SCHEMA_VERSION = 2  # 2: every row carries a checksum; a schema-1 file is emptied once
DB_NAME = "embeddings.sqlite3"
CHUNK = 500  # keys per query: well under SQLite's 999 bound parameters
BUSY_TIMEOUT_MS = 30_000
_DTYPE = np.dtype("<f4")  # fixed byte order, so a cache file is portable
#: SQLite's codes for a damaged file (its own page checks): such a file is moved aside.
DAMAGED_CODES = ("SQLITE_CORRUPT", "SQLITE_NOTADB")
log = logging.getLogger(__name__)


class CacheError(RuntimeError):
    """The cache database is unreadable, from another schema, or damaged and not movable."""


def default_cache_dir() -> Path:
    """``$XDG_CACHE_HOME/relevance``, else ``~/.cache/relevance``."""
    base = os.environ.get("XDG_CACHE_HOME")
    return (Path(base) if base else Path.home() / ".cache") / "relevance"


def text_key(text: str) -> str:
    """sha256 hex of the UTF-8 text: fixed-size keys whatever the text's length."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def checksum(fingerprint: str, key: str, dim: int, blob: bytes) -> bytes:
    """Over the whole row, so a flipped byte in any column, or a row under another
    model's or text's key, fails the check."""
    digest = hashlib.blake2b(digest_size=16)
    for part in (fingerprint.encode(), b"\0", key.encode(), b"\0", str(dim).encode(), b"\0"):
        digest.update(part)
    digest.update(blob)
    return digest.digest()


def _damaged(exc: sqlite3.Error) -> bool:
    name = getattr(exc, "sqlite_errorname", "")
    return isinstance(exc, sqlite3.DatabaseError) and name.startswith(DAMAGED_CODES)


class EmbeddingCache:
    """Float32 vectors on disk, keyed by (model fingerprint, text), each row checksummed.

    One connection per instance; calls are serialised by a lock, so an instance
    may be shared between threads. Other processes may open the same file.

    Nothing read from the file is trusted: an entry whose checksum or values are wrong
    is dropped and reported as a miss (so it is recomputed; ``damaged`` counts them),
    and a file SQLite finds damaged is moved aside to ``*.damaged-*`` and replaced by an
    empty one (``quarantined`` lists where it went); if it cannot be moved, CacheError.
    """

    def __init__(self, directory: str | Path | None = None):
        self.directory = Path(directory) if directory is not None else default_cache_dir()
        self.path = self.directory / DB_NAME
        self._lock = threading.Lock()
        self.damaged = 0
        self.quarantined: list[Path] = []
        self.directory.mkdir(parents=True, exist_ok=True)
        self._conn: sqlite3.Connection | None = None
        try:
            self._open()
        except sqlite3.Error as exc:
            if not _damaged(exc):
                self.close()
                raise CacheError(f"{self.path}: embedding cache unusable: {exc}") from exc
            self._quarantine(exc)
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        try:
            conn = sqlite3.connect(
                self.path,
                timeout=BUSY_TIMEOUT_MS / 1000,
                isolation_level=None,
                check_same_thread=False,
            )
        except sqlite3.Error as exc:
            raise CacheError(f"{self.path}: cannot open embedding cache: {exc}") from exc
        self._conn = conn
        self._setup(conn)

    def _setup(self, conn: sqlite3.Connection) -> None:
        conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        version = conn.execute("PRAGMA user_version").fetchone()[0]
        if version not in (0, 1, SCHEMA_VERSION):
            raise CacheError(f"{self.path}: cache schema {version}, expected {SCHEMA_VERSION}")
        if version == 1:  # rows without checksums cannot be trusted: start again
            log.warning("%s: embedding cache of schema 1 (no checksums) emptied", self.path)
            conn.execute("DROP TABLE IF EXISTS embeddings")
        conn.execute(
            "CREATE TABLE IF NOT EXISTS embeddings ("
            " fingerprint TEXT NOT NULL, text_sha256 TEXT NOT NULL,"
            " dim INTEGER NOT NULL, vector BLOB NOT NULL, checksum BLOB NOT NULL,"
            " PRIMARY KEY (fingerprint, text_sha256)) WITHOUT ROWID"
        )
        conn.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")

    def _quarantine(self, exc: sqlite3.Error) -> None:
        """Move a damaged file (and its WAL) aside, start an empty cache, and say so."""
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
        moved = self.path.with_name(f"{DB_NAME}.damaged-{stamp}-{os.getpid()}")
        try:
            for suffix in ("", "-wal", "-shm"):
                part = Path(f"{self.path}{suffix}")
                if part.exists():
                    os.replace(part, f"{moved}{suffix}")
        except OSError as err:
            raise CacheError(
                f"{self.path}: embedding cache is damaged ({exc}) and could not be moved "
                f"aside ({err}); delete it"
            ) from exc
        self.quarantined.append(moved)
        log.warning(
            "%s: embedding cache is damaged (%s); moved to %s, starting an empty cache "
            "(its texts are encoded again)",
            self.path,
            exc,
            moved,
        )
        try:
            self._open()
        except sqlite3.Error as again:
            raise CacheError(f"{self.path}: embedding cache unusable: {again}") from again

    @contextmanager
    def _errors(self) -> Iterator[sqlite3.Connection]:
        """Hold the lock; turn SQLite's errors into ones that name the file.

        A damaged file raises ``_Damaged`` after being quarantined, so the caller can
        carry on with the fresh, empty cache.
        """
        with self._lock:
            if self._conn is None:
                raise CacheError(f"{self.path}: embedding cache is closed")
            try:
                yield self._conn
            except sqlite3.DatabaseError as exc:
                if _damaged(exc):
                    self._quarantine(exc)
                    raise _Damaged from exc
                raise CacheError(f"{self.path}: embedding cache unusable: {exc}") from exc

    def get_many(self, fingerprint: str, texts: Sequence[str]) -> list[np.ndarray | None]:
        """Each text's cached, verified vector, or None where absent or damaged."""
        keys = [text_key(t) for t in texts]
        found: dict[str, np.ndarray] = {}
        bad: list[str] = []
        try:
            with self._errors() as conn:
                for start in range(0, len(keys), CHUNK):
                    chunk = list(dict.fromkeys(keys[start : start + CHUNK]))
                    marks = ",".join("?" * len(chunk))
                    rows = conn.execute(
                        "SELECT text_sha256, dim, vector, checksum FROM embeddings"
                        f" WHERE fingerprint = ? AND text_sha256 IN ({marks})",
                        [fingerprint, *chunk],
                    ).fetchall()
                    for key, dim, blob, check in rows:
                        vector = _verified(fingerprint, key, dim, blob, check)
                        if vector is None:
                            bad.append(key)
                        else:
                            found[key] = vector
                if bad:
                    conn.executemany(
                        "DELETE FROM embeddings WHERE fingerprint = ? AND text_sha256 = ?",
                        [(fingerprint, key) for key in bad],
                    )
        except _Damaged:
            return [None] * len(keys)
        if bad:
            self.damaged += len(bad)
            log.warning(
                "%s: %d damaged embedding cache entries (checksum or values wrong) dropped; "
                "their texts are encoded again",
                self.path,
                len(bad),
            )
        return [found.get(k) for k in keys]

    def put_many(self, fingerprint: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store rows in one transaction: a failure leaves the cache as it was."""
        vectors = np.asarray(vectors)
        if vectors.ndim != 2 or vectors.shape[0] != len(texts):
            raise ValueError(f"{len(texts)} texts but vectors of shape {vectors.shape}")
        if not np.all(np.isfinite(vectors)):
            raise ValueError("refusing to cache non-finite vectors")
        vectors = vectors.astype(_DTYPE, copy=False)
        dim = int(vectors.shape[1])
        rows = []
        for t, v in zip(texts, vectors, strict=True):
            key, blob = text_key(t), v.tobytes()
            rows.append((fingerprint, key, dim, blob, checksum(fingerprint, key, dim, blob)))
        for attempt in (1, 2):  # once more into the fresh file if this one was damaged
            try:
                with self._errors() as conn:
                    conn.execute("BEGIN IMMEDIATE")  # take the write lock now, not mid-batch
                    try:
                        conn.executemany(
                            "INSERT OR IGNORE INTO embeddings"
                            " (fingerprint, text_sha256, dim, vector, checksum)"
                            " VALUES (?, ?, ?, ?, ?)",
                            rows,
                        )
                    except BaseException:
                        if conn.in_transaction:
                            conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                return
            except _Damaged:
                if attempt == 2:
                    raise CacheError(f"{self.path}: embedding cache damaged again") from None

    def dimension(self, fingerprint: str) -> int | None:
        """The vector size stored for a model, if any; lets empty batches skip the model."""
        try:
            with self._errors() as conn:
                row = conn.execute(
                    "SELECT dim FROM embeddings WHERE fingerprint = ? LIMIT 1", (fingerprint,)
                ).fetchone()
        except _Damaged:
            return None
        return None if row is None else int(row[0])

    def stats(self) -> dict[str, int]:
        """Entry and model counts, and the bytes of vector data held."""
        try:
            with self._errors() as conn:
                entries, models, size = conn.execute(
                    "SELECT COUNT(*), COUNT(DISTINCT fingerprint),"
                    " COALESCE(SUM(LENGTH(vector)), 0) FROM embeddings"
                ).fetchone()
        except _Damaged:
            return {"entries": 0, "models": 0, "bytes": 0}
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


class _Damaged(Exception):
    """Internal: the file was damaged and has been replaced by an empty one."""


def _verified(
    fingerprint: str, key: str, dim: object, blob: object, check: object
) -> np.ndarray | None:
    """The row's vector if its checksum, length and values are sound, else None."""
    if not (isinstance(dim, int) and isinstance(blob, bytes) and isinstance(check, bytes)):
        return None
    if check != checksum(fingerprint, key, dim, blob) or len(blob) != dim * _DTYPE.itemsize:
        return None
    vector = np.frombuffer(blob, dtype=_DTYPE).astype(np.float32)
    return vector if np.all(np.isfinite(vector)) else None


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
        # Keyed by the text itself: a str caches its hash, so a hit costs no sha256.
        self._memory: OrderedDict[str, np.ndarray] = OrderedDict()
        self._tokens: dict[str, int] = {}
        self._dim: int | None = None  # the vector size, once known

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def key(self) -> str:
        """What the cache files vectors under: the encoder's ``cache_key`` (all its files),
        else its fingerprint."""
        return getattr(self.inner, "cache_key", None) or self.inner.fingerprint

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

    def _remember(self, text: str, vector: np.ndarray) -> None:
        if self.in_memory <= 0:
            return
        self._memory[text] = vector
        self._memory.move_to_end(text)
        while len(self._memory) > self.in_memory:
            self._memory.popitem(last=False)

    def _same_size(self, stored: list[np.ndarray | None]) -> list[np.ndarray | None]:
        """Drop cached vectors whose size is not this encoder's (a row re-signed with a
        wrong length passes its checksum): they are recomputed like damaged ones."""
        sizes = Counter(len(v) for v in stored if v is not None)
        if not sizes:
            return stored
        if self._dim is None:
            self._dim = sizes.most_common(1)[0][0]
        wrong = sum(n for size, n in sizes.items() if size != self._dim)
        if wrong and self.cache is not None:
            self.cache.damaged += wrong
            log.warning(
                "%s: %d damaged embedding cache entries (wrong vector size) dropped; encoded again",
                self.cache.path,
                wrong,
            )
        return [v if v is not None and len(v) == self._dim else None for v in stored]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        fingerprint = self.key
        unique = list(dict.fromkeys(texts))
        memory = self._memory
        found: list[np.ndarray | None] = [memory.get(t) for t in unique]
        for t, v in zip(unique, found, strict=True):
            if v is not None:
                memory.move_to_end(t)
        ask = [i for i, v in enumerate(found) if v is None]
        if ask and self.cache is not None:
            stored = self.cache.get_many(fingerprint, [unique[i] for i in ask])
            for i, v in zip(ask, self._same_size(stored), strict=True):
                if v is not None:
                    found[i] = v
                    self._remember(unique[i], v)
        missing = [i for i, v in enumerate(found) if v is None]
        self.hits += len(unique) - len(missing)
        self.misses += len(missing)
        if missing:
            new = np.asarray(self.inner.encode([unique[i] for i in missing]), dtype=np.float32)
            if new.ndim != 2 or new.shape[0] != len(missing):
                raise ValueError(f"inner encoder returned {new.shape} for {len(missing)} texts")
            if not np.all(np.isfinite(new)):
                raise ValueError("the encoder returned non-finite values; nothing was cached")
            if self._dim is not None and new.shape[1] != self._dim:
                raise CacheError(
                    f"{self.cache.path if self.cache else 'memory'}: cached vectors of size "
                    f"{self._dim} but the encoder gives {new.shape[1]}; delete the cache"
                )
            self._dim = int(new.shape[1])
            if self.cache is not None:
                self.cache.put_many(fingerprint, [unique[i] for i in missing], new)
            self.encoded += len(missing)
            for i, v in zip(missing, new, strict=True):
                found[i] = v.copy()
                self._remember(unique[i], found[i])
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
