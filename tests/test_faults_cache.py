"""The embedding cache cannot lie (issue 15, failure 2): a damaged entry is recomputed and
reported, a damaged file is moved aside and rebuilt (or refused naming it), and no
output row ever differs from a ``--no-cache`` run because of what the cache held.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from pathlib import Path

import fake_cli
import numpy as np
import pytest
from batch_support import save_fake_model
from fakes import FakeEmbedder, make_feeds
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from relevance.embed.cache import DB_NAME, CachedEmbedder, EmbeddingCache, checksum, text_key

TEXTS = [f"text number {i} about river floods" for i in range(40)]


def _filled(directory: Path) -> np.ndarray:
    with EmbeddingCache(directory) as cache:
        return CachedEmbedder(FakeEmbedder(), cache).encode(TEXTS)


def _edit_row(directory: Path, text: str, edit) -> None:
    with sqlite3.connect(directory / DB_NAME) as conn:
        fp, key, dim, blob, check = conn.execute(
            "SELECT * FROM embeddings WHERE text_sha256 = ?", (text_key(text),)
        ).fetchone()
        new = edit(fp, key, dim, blob, check)
        conn.execute(
            "UPDATE embeddings SET dim = ?, vector = ?, checksum = ? WHERE text_sha256 = ?",
            (*new, key),
        )


@pytest.mark.parametrize(
    "edit",
    [
        # a flipped bit in the vector, the checksum left as it was
        lambda fp, key, dim, blob, check: (dim, bytes([blob[0] ^ 1]) + blob[1:], check),
        # NaNs under a checksum that matches them: the finite check catches it
        lambda fp, key, dim, blob, check: (
            dim,
            np.full(dim, np.nan, "<f4").tobytes(),
            checksum(fp, key, dim, np.full(dim, np.nan, "<f4").tobytes()),
        ),
        # a shorter vector, re-signed
        lambda fp, key, dim, blob, check: (
            dim - 1,
            blob[:-4],
            checksum(fp, key, dim - 1, blob[:-4]),
        ),
        # the checksum itself damaged
        lambda fp, key, dim, blob, check: (dim, blob, b"\0" * 16),
    ],
)
def test_a_damaged_entry_is_recomputed_and_reported(tmp_path, caplog, edit):
    clean = _filled(tmp_path)
    _edit_row(tmp_path, TEXTS[7], edit)
    inner = FakeEmbedder()
    with EmbeddingCache(tmp_path) as cache:
        got = CachedEmbedder(inner, cache).encode(TEXTS)
        assert cache.damaged == 1
        assert inner.texts_encoded == 1  # only the damaged one
    np.testing.assert_allclose(got, clean, atol=1e-6)
    assert np.all(np.isfinite(got))
    assert "1 damaged embedding cache entries" in caplog.text and str(tmp_path) in caplog.text
    with EmbeddingCache(tmp_path) as cache:  # stored again, sound this time
        assert all(v is not None for v in cache.get_many(FakeEmbedder().fingerprint, TEXTS))
        assert cache.damaged == 0


def test_a_row_moved_under_another_key_is_not_served(tmp_path):
    _filled(tmp_path)
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        (blob, check) = conn.execute(
            "SELECT vector, checksum FROM embeddings WHERE text_sha256 = ?", (text_key(TEXTS[0]),)
        ).fetchone()
        conn.execute(
            "UPDATE embeddings SET vector = ?, checksum = ? WHERE text_sha256 = ?",
            (blob, check, text_key(TEXTS[1])),
        )
    with EmbeddingCache(tmp_path) as cache:
        assert cache.get_many(FakeEmbedder().fingerprint, [TEXTS[1]]) == [None]
        assert cache.damaged == 1


def test_non_finite_vectors_are_never_cached(tmp_path):
    inner = FakeEmbedder()
    inner.encode = lambda texts: np.full((len(texts), 4), np.nan, np.float32)  # type: ignore[method-assign]
    with EmbeddingCache(tmp_path) as cache:
        with pytest.raises(ValueError, match="non-finite"):
            CachedEmbedder(inner, cache).encode(["a"])
        with pytest.raises(ValueError, match="non-finite"):
            cache.put_many("fp", ["a"], np.full((1, 4), np.inf, np.float32))
        assert cache.stats()["entries"] == 0


def test_a_schema_1_cache_without_checksums_is_emptied(tmp_path):
    with sqlite3.connect(tmp_path / DB_NAME) as conn:
        conn.execute(
            "CREATE TABLE embeddings (fingerprint TEXT, text_sha256 TEXT, dim INTEGER,"
            " vector BLOB, PRIMARY KEY (fingerprint, text_sha256)) WITHOUT ROWID"
        )
        conn.execute("INSERT INTO embeddings VALUES ('fp', 'k', 1, x'0000c07f')")  # a NaN
        conn.execute("PRAGMA user_version = 1")
    with EmbeddingCache(tmp_path) as cache:
        assert cache.stats()["entries"] == 0


# -- the CLI, end to end: byte flips in the file ----------------------------------------


@pytest.fixture(scope="module")
def setup(tmp_path_factory, fitted_fake_model):
    root = tmp_path_factory.mktemp("cachefaults")
    model = save_fake_model(fitted_fake_model[0], root / "model")
    feeds = root / "feeds.jsonl"
    feeds.write_text("".join(json.dumps(f) + "\n" for f in make_feeds(40, 6, seed=3)))
    reference = root / "reference.jsonl"
    code, _ = _score(model, feeds, reference, None)
    assert code == 0
    warm = root / "warm-cache"
    code, _ = _score(model, feeds, root / "warm.jsonl", warm)
    assert code == 0
    with contextlib.closing(sqlite3.connect(warm / DB_NAME)) as conn:  # all in the main file
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        assert conn.execute("SELECT COUNT(*) FROM embeddings").fetchone()[0] > 100
    return model, feeds, _rows(reference), (warm / DB_NAME).read_bytes()


def _score(model: Path, feeds: Path, out: Path, cache: Path | None) -> tuple[int, str]:
    args = ["score", str(feeds), "--model", str(model), "--out", str(out), "--no-progress"]
    args += ["--cache-dir", str(cache)] if cache is not None else ["--no-cache"]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        code = fake_cli.main(args)
    return code, err.getvalue()


def _rows(path: Path) -> list[dict]:
    text = path.read_text()
    assert "NaN" not in text and "Infinity" not in text
    return [json.loads(line) for line in text.splitlines()]


def _same(got: list[dict], want: list[dict]) -> None:
    assert len(got) == len(want)
    for a, b in zip(got, want, strict=True):
        assert (a["feed_id"], a["item_id"], a["relevant"], a["rank"]) == (
            b["feed_id"],
            b["item_id"],
            b["relevant"],
            b["rank"],
        )
        for column in ("probability", "p_story", "p_topic"):
            assert a[column] == pytest.approx(b[column], abs=1e-5)


def test_the_issue_case_3_blocks_of_64_bytes_overwritten(setup, tmp_path):
    model, feeds, reference, db = setup
    damaged = bytearray(db)
    rng = np.random.default_rng(15)
    for at in rng.integers(4096, len(db) - 64, size=3):  # past the header page
        damaged[at : at + 64] = rng.integers(0, 256, 64, dtype=np.uint8).tobytes()
    (tmp_path / "c").mkdir()
    (tmp_path / "c" / DB_NAME).write_bytes(bytes(damaged))
    code, err = _score(model, feeds, tmp_path / "out.jsonl", tmp_path / "c")
    assert code == 0, err
    _same(_rows(tmp_path / "out.jsonl"), reference)
    assert "damaged" in err and str(tmp_path / "c" / DB_NAME) in err  # and it says so


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    flips=st.lists(
        st.tuples(st.floats(0, 1, exclude_max=True), st.integers(1, 255)), min_size=1, max_size=40
    ),
)
def test_random_byte_flips_never_change_a_row_silently(setup, tmp_path_factory, flips):
    """Every run matches the --no-cache run (1e-5) or stops with exit 1 naming the cache."""
    model, feeds, reference, db = setup
    damaged = bytearray(db)
    for where, mask in flips:
        damaged[int(where * len(db))] ^= mask
    directory = tmp_path_factory.mktemp("flip")
    (directory / "c").mkdir()
    (directory / "c" / DB_NAME).write_bytes(bytes(damaged))
    out = directory / "out.jsonl"
    code, err = _score(model, feeds, out, directory / "c")
    if code == 0:
        _same(_rows(out), reference)
    else:
        assert code == 1, err
        assert str(directory / "c" / DB_NAME) in err and "Traceback" not in err
        assert not out.exists()


class _NaNFor(FakeEmbedder):
    """The fake encoder, but one text comes back as NaN (an encoder fault, not the cache)."""

    def encode(self, texts):
        out = super().encode(texts)
        out[[i for i, t in enumerate(texts) if "flood" in t.lower()][:1]] = np.nan
        return out


def test_a_non_finite_probability_is_an_internal_error_not_a_row(fitted_fake_model, tmp_path):
    from relevance.batch.score import score_frame
    from relevance.persistence.artifacts import load_model

    folder = save_fake_model(fitted_fake_model[0], tmp_path / "m")
    frame = fitted_fake_model[1]
    model = load_model(folder, embedder=_NaNFor(), cache=False)
    with pytest.raises(RuntimeError, match=r"internal error: non-finite p_\w+ for feed"):
        score_frame(frame, model)
    assert np.isfinite(
        score_frame(frame, load_model(folder, embedder=FakeEmbedder()))["probability"]
    ).all()
