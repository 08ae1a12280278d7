"""Fine-tuning the real packaged MiniLM: a smoke test of a few steps (slow, < 60 s)."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
from fakes import make_feeds
from training_helpers import write_feeds

from relevance.embed.encoder import SentenceTransformerEmbedder, default_model_path, hash_weights
from relevance.io.reader import read_inputs
from relevance.persistence.artifacts import ModelLoadError, load_model, sha256_file
from relevance.train.finetune import FinetuneSettings, to_fp16
from relevance.train.pipeline import train

pytestmark = pytest.mark.slow

LAYOUT = {
    "embedder/modules.json",
    "embedder/config.json",
    "embedder/config_sentence_transformers.json",
    "embedder/sentence_bert_config.json",
    "embedder/tokenizer.json",
    "embedder/tokenizer_config.json",
    "embedder/1_Pooling/config.json",
    "embedder/model.safetensors",
}


def test_fp16_weights_load_as_fp32_and_embed_alike(tmp_path):
    folder = tmp_path / "copy"
    shutil.copytree(default_model_path(), folder)
    to_fp16(folder)
    texts = ["Floods hit the river towns after days of rain.", "Shares fell on the index. " * 30]
    full = SentenceTransformerEmbedder(None).encode(texts)
    half = SentenceTransformerEmbedder(folder)
    assert next(half.model.parameters()).dtype.is_floating_point
    assert str(next(half.model.parameters()).dtype) == "torch.float32"
    assert np.abs(full - half.encode(texts)).max() < 1e-3


def test_finetune_smoke_layout_fp16_hashes_and_reload(tmp_path):
    from safetensors import safe_open

    # graded feeds: the trainer gets (article, same story, related story) triplets
    path = write_feeds(make_feeds(12, 6, seed=5, graded=True), tmp_path / "feeds.jsonl")
    out = tmp_path / "model"
    settings = FinetuneSettings(max_steps=2, batch_size=4, seed=0)
    model = train(
        [path],
        out,
        n_splits=3,
        finetune=True,
        finetune_settings=settings,
        cache_dir=tmp_path / "cache",
    )
    config = json.loads((out / "config.json").read_text())
    assert set(config["files"]) >= LAYOUT
    for rel, sha in config["files"].items():
        assert sha256_file(out / rel) == sha
    with safe_open(out / "embedder" / "model.safetensors", "pt") as f:
        dtypes = {str(f.get_tensor(k).dtype) for k in f.keys()}  # noqa: SIM118
    assert dtypes == {"torch.float16"}
    size = (out / "embedder" / "model.safetensors").stat().st_size
    assert 40e6 < size < 50e6  # ~45 MB, half of the fp32 weights
    assert config["embedder"]["model"] == "embedder"
    assert config["embedder"]["sha256"] == hash_weights(out / "embedder")
    assert config["embedder"]["sha256"] != SentenceTransformerEmbedder().fingerprint
    assert config["finetune"]["settings"]["max_steps"] == 2
    assert "hard negative" in config["finetune"]["loss"]
    assert config["levels"] == ["story", "topic"]
    assert "Fine-tuned against frozen embedder" in (out / "README.md").read_text()

    loaded = load_model(out)  # resolves "embedder" inside the folder, verifies every hash
    assert loaded.embedder_.fingerprint == config["embedder"]["sha256"]
    assert model.embedder_.fingerprint == config["embedder"]["sha256"]  # the stored copy
    frame = read_inputs([path])
    assert (
        loaded.score_frame(frame)["probability"] == model.score_frame(frame)["probability"]
    ).all()

    weights = out / "embedder" / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 1
    weights.write_bytes(bytes(data))
    with pytest.raises(ModelLoadError, match="model.safetensors: sha256"):
        load_model(out)
