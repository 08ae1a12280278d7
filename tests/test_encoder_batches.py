"""Encoder batches: each text once, bounded rows and padding, and the same vectors."""

from __future__ import annotations

import numpy as np
import pytest

from relevance.embed.batching import length_batches


def padded(lengths: np.ndarray, batches: list[np.ndarray]) -> int:
    return int(sum(lengths[b].max() * len(b) for b in batches))


def test_every_row_once_and_no_batch_over_its_limits():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 257, size=999)
    batches = length_batches(lengths, batch_size=64)
    rows = np.concatenate(batches)
    assert sorted(rows.tolist()) == list(range(999))
    for b in batches:
        assert 1 <= len(b) <= 64
        assert len(b) == 1 or lengths[b].max() * len(b) <= 64 * 128
        assert lengths[b].min() >= 0.8 * lengths[b].max()


def test_a_few_long_windows_do_not_pad_the_short_items():
    # A small call: 10 article windows of 256 tokens among 54 items of about 30.
    lengths = np.array([256] * 10 + [30 + i % 7 for i in range(54)])
    batches = length_batches(lengths, batch_size=64)
    assert padded(lengths, batches) <= 1.2 * lengths.sum()  # one batch of 64: 6.9x
    assert all(b.max() < 10 or b.min() >= 10 for b in batches)  # never a window with items


@pytest.mark.parametrize(("size", "ratio"), [(0, 0.8), (8, 1.5), (8, -0.1)])
def test_bad_settings_are_refused(size, ratio):
    with pytest.raises(ValueError):
        length_batches([3, 2, 1], batch_size=size, min_ratio=ratio)


def test_the_real_encoder_gives_the_vectors_of_one_text_at_a_time():
    from relevance.embed.encoder import SentenceTransformerEmbedder

    real_embedder = SentenceTransformerEmbedder(batch_size=2)
    texts = ["Kyiv talks resume in Geneva.", "A short one.", "word " * 300, "Minsk " * 40]
    together = real_embedder.encode(texts)
    alone = np.vstack([real_embedder.encode([t]) for t in texts])
    assert np.allclose(together, alone, atol=1e-5)
