"""Tests for relevance.embed.cache: the on-disk embedding cache and the caching embedder."""

from __future__ import annotations

import hashlib
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pytest

from relevance.embed.cache import (
    DB_NAME,
    CachedEmbedder,
    CacheError,
    EmbeddingCache,
    default_cache_dir,
    text_key,
)

DIM = 8


class FakeEmbedder:
    """Deterministic vectors from the text's hash; records every encode call."""

    def __init__(self, fingerprint: str = "fp-a", dim: int = DIM):
        self.model_id = "fake"
        self.max_tokens = 16
        self._fingerprint = fingerprint
        self.dim = dim
        self.calls: list[list[str]] = []

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    @property
    def texts_encoded(self) -> int:
        return sum(len(c) for c in self.calls)

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.stack([vector(t, self.dim) for t in texts]) if texts else np.zeros((0, self.dim))

    def count_tokens(self, texts: Sequence[str]) -> list[int]:
        return [len(t.split()) for t in texts]


def vector(text: str, dim: int = DIM) -> np.ndarray:
    seed = int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")
    v = np.random.default_rng(seed).standard_normal(dim).astype(np.float32)
    return v / np.linalg.norm(v)


def rows(directory: Path) -> int:
    with sqlite3.connect(directory / DB_NAME) as conn:
        return conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0]


def test_text_key_is_sha256() -> None:
    assert text_key("é") == hashlib.sha256("é".encode()).hexdigest()


def test_round_trip_is_exact(tmp_path: Path) -> None:
    texts = ["alpha", "beta", "gamma"]
    vectors = np.stack([vector(t) for t in texts])
    with EmbeddingCache(tmp_path / "new" / "dir") as cache:
        assert cache.path == tmp_path / "new" / "dir" / DB_NAME
        cache.put_many("fp", texts, vectors)
        got = cache.get_many("fp", ["gamma", "missing", "alpha"])
        assert got[1] is None
        assert got[0] is not None and got[0].dtype == np.float32
        np.testing.assert_array_equal(got[0], vectors[2])
        np.testing.assert_array_equal(got[2], vectors[0])
        assert cache.stats() == {"entries": 3, "models": 1, "bytes": 3 * DIM * 4}
        assert cache.dimension("fp") == DIM and cache.dimension("other") is None


def test_lookup_beyond_one_chunk(tmp_path: Path) -> None:
    texts = [f"text {i}" for i in range(1234)]
    vectors = np.stack([vector(t) for t in texts])
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many("fp", texts, vectors)
        got = cache.get_many("fp", texts)
    np.testing.assert_array_equal(np.stack(got), vectors)  # type: ignore[arg-type]


def test_second_instance_never_calls_inner(tmp_path: Path) -> None:
    texts = ["one", "two", "three", "two"]
    first = FakeEmbedder()
    with EmbeddingCache(tmp_path) as cache:
        expected = CachedEmbedder(first, cache).encode(texts)
    assert first.texts_encoded == 3

    second = FakeEmbedder()
    with EmbeddingCache(tmp_path) as cache:
        embedder = CachedEmbedder(second, cache)
        out = embedder.encode(texts)
        empty = embedder.encode([])
    assert second.calls == []
    np.testing.assert_array_equal(out, expected)
    assert (embedder.hits, embedder.misses, embedder.encoded) == (3, 0, 0)
    assert empty.shape == (0, DIM)


def test_duplicates_encoded_once_in_first_seen_order(tmp_path: Path) -> None:
    inner = FakeEmbedder()
    with EmbeddingCache(tmp_path) as cache:
        embedder = CachedEmbedder(inner, cache)
        out = embedder.encode(["b", "a", "b", "c", "a"])
    assert inner.calls == [["b", "a", "c"]]
    np.testing.assert_array_equal(out, np.stack([vector(t) for t in "babca"]))
    assert (embedder.misses, embedder.encoded) == (3, 3)


@pytest.mark.parametrize("in_memory", [0, 100_000])
def test_mixed_hits_and_misses_keep_input_order(tmp_path: Path, in_memory: int) -> None:
    inner = FakeEmbedder()
    with EmbeddingCache(tmp_path) as cache:
        embedder = CachedEmbedder(inner, cache, in_memory=in_memory)
        embedder.encode(["x", "z"])
        texts = ["y", "z", "w", "x", "y"]
        out = embedder.encode(texts)
    assert inner.calls == [["x", "z"], ["y", "w"]]
    assert out.dtype == np.float32 and out.shape == (5, DIM)
    np.testing.assert_array_equal(out, np.stack([vector(t) for t in texts]))
    assert (embedder.hits, embedder.misses, embedder.encoded) == (2, 4, 4)


def test_memory_layer_skips_sqlite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with EmbeddingCache(tmp_path) as cache:
        embedder = CachedEmbedder(FakeEmbedder(), cache, in_memory=2)
        embedder.encode(["a", "b", "c"])  # "a" falls out of the 2-entry LRU
        looked_up: list[list[str]] = []
        real = cache.get_many
        monkeypatch.setattr(
            cache, "get_many", lambda fp, texts: looked_up.append(list(texts)) or real(fp, texts)
        )
        embedder.encode(["b", "c", "a"])
    assert looked_up == [["a"]]


def test_fingerprints_do_not_share_entries(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path) as cache:
        CachedEmbedder(FakeEmbedder("fp-a"), cache).encode(["shared"])
        other = FakeEmbedder("fp-b")
        CachedEmbedder(other, cache).encode(["shared"])
        assert other.calls == [["shared"]]
        assert cache.get_many("fp-c", ["shared"]) == [None]
        assert cache.stats()["models"] == 2


def test_failure_mid_batch_leaves_no_rows(tmp_path: Path) -> None:
    texts = [f"t{i}" for i in range(5)]
    with EmbeddingCache(tmp_path) as cache:
        cache.put_many("fp", ["before"], vector("before")[None])
        # A trigger makes the fourth insert fail after three have been written.
        cache._conn.execute(  # type: ignore[union-attr]
            "CREATE TEMP TRIGGER boom BEFORE INSERT ON main.embeddings"
            f" WHEN NEW.text_sha256 = '{text_key('t3')}' BEGIN SELECT RAISE(ABORT, 'boom'); END"
        )
        with pytest.raises(CacheError, match="boom"):
            cache.put_many("fp", texts, np.stack([vector(t) for t in texts]))
        assert cache.get_many("fp", texts) == [None] * 5
        assert cache.stats()["entries"] == 1
        with pytest.raises(ValueError, match="shape"):
            cache.put_many("fp", texts, np.zeros((4, DIM), dtype=np.float32))
    assert rows(tmp_path) == 1


def test_inner_returning_wrong_shape_stores_nothing(tmp_path: Path) -> None:
    inner = FakeEmbedder()
    inner.encode = lambda texts: np.zeros((1, DIM), dtype=np.float32)  # type: ignore[method-assign]
    with EmbeddingCache(tmp_path) as cache, pytest.raises(ValueError):
        CachedEmbedder(inner, cache).encode(["a", "b"])
    assert rows(tmp_path) == 0


def test_corrupt_file_is_moved_aside_or_refused_naming_the_path(tmp_path, monkeypatch, caplog):
    path = tmp_path / DB_NAME
    garbage = b"this is not a database, just garbage bytes " * 200
    path.write_bytes(garbage)
    with EmbeddingCache(tmp_path) as cache:  # quarantined, and an empty cache in its place
        assert cache.stats()["entries"] == 0
        (moved,) = cache.quarantined
    assert moved.read_bytes() == garbage and moved.name.startswith(f"{DB_NAME}.damaged-")
    assert str(path) in caplog.text and str(moved) in caplog.text
    path.write_bytes(garbage)

    def cannot(*args: object) -> None:
        raise PermissionError("read-only folder")

    monkeypatch.setattr("relevance.embed.cache.os.replace", cannot)
    with pytest.raises(CacheError, match=rf"{path}: embedding cache is damaged .* delete it"):
        EmbeddingCache(tmp_path)


def test_closed_cache_refuses(tmp_path: Path) -> None:
    cache = EmbeddingCache(tmp_path)
    cache.close()
    cache.close()
    with pytest.raises(CacheError, match="closed"):
        cache.get_many("fp", ["a"])


def test_wal_and_pragmas(tmp_path: Path) -> None:
    with EmbeddingCache(tmp_path) as cache:
        conn = cache._conn
        assert conn is not None
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert conn.execute("PRAGMA synchronous").fetchone()[0] == 1  # NORMAL
        assert conn.execute("PRAGMA busy_timeout").fetchone()[0] > 0


def test_xdg_cache_home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert default_cache_dir() == tmp_path / "xdg" / "relevance"
    with EmbeddingCache() as cache:
        assert cache.path == tmp_path / "xdg" / "relevance" / DB_NAME
    assert cache.path.is_file()
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert default_cache_dir() == tmp_path / "home" / ".cache" / "relevance"
