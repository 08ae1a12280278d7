"""Tests for relevance.embed.onnx: the int8 export of the packaged MiniLM against torch.

The slow ones export the real model once per session (about 10 s on two cores).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from relevance.embed.encoder import SentenceTransformerEmbedder
from relevance.embed.onnx import (
    BACKENDS,
    INT8_FILE,
    META_FILE,
    OnnxInt8Embedder,
    export_onnx_int8,
    make_embedder,
    transformer_folder,
)

SENTENCES = [
    "The central bank raised interest rates by half a point to curb inflation.",
    "Inflation fell for the third month as fuel prices eased.",
    "A magnitude 6.8 earthquake struck off the coast, triggering a tsunami warning.",
    "Rescue teams search collapsed buildings after the quake.",
    "The striker scored twice as the home side won the cup final.",
    "Parliament passed the budget after a night of heated debate.",
    "Avian influenza was confirmed on a poultry farm; 4,000 birds were culled.",
    "Researchers report a new antibiotic effective against resistant bacteria.",
    "Wildfires forced thousands to evacuate as temperatures hit record highs.",
    "The film festival opened with a premiere attended by the director.",
]
# Well over 128 tokens of one topic, then a different one: cut at 128, the tail is lost.
HEAD_TEXT = " ".join(
    f"The orchestra rehearsed the symphony's movement number {i} in the concert hall."
    for i in range(9)
)
TAIL_TEXT = " ".join(
    f"Meanwhile, floods in the river valley destroyed bridge {i} and stranded villagers."
    for i in range(4)
)


@pytest.fixture(scope="session")
def int8(tmp_path_factory: pytest.TempPathFactory) -> OnnxInt8Embedder:
    embedder = OnnxInt8Embedder(cache_dir=tmp_path_factory.mktemp("onnx-cache"))
    embedder.export()
    return embedder


@pytest.fixture(scope="session")
def torch_embedder() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder()


def cosine_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a * b).sum(axis=1)


@pytest.mark.slow
def test_export_writes_int8_and_metadata(int8: OnnxInt8Embedder) -> None:
    folder = int8.export_dir
    assert (folder / INT8_FILE).stat().st_size > 1_000_000
    assert not (folder / "model.onnx").exists()  # the fp32 intermediate is not kept
    meta = json.loads((folder / META_FILE).read_text())
    assert meta["source_sha256"] == int8.source_sha256
    assert meta["quantization"]["weight_type"] == "QInt8"
    assert {"opset", "onnxruntime"} <= meta.keys()
    assert [p.name for p in folder.parent.iterdir()] == [folder.name]  # no temp folder left


@pytest.mark.slow
def test_second_export_is_a_no_op(int8: OnnxInt8Embedder) -> None:
    before = {p.name: p.stat().st_mtime_ns for p in int8.export_dir.iterdir()}
    assert export_onnx_int8(int8.path, int8.export_dir) == int8.export_dir / INT8_FILE
    assert {p.name: p.stat().st_mtime_ns for p in int8.export_dir.iterdir()} == before


@pytest.mark.slow
def test_embeddings_close_to_torch(
    int8: OnnxInt8Embedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    ours, ref = int8.encode(SENTENCES), torch_embedder.encode(SENTENCES)
    assert ours.dtype == np.float32 and ours.shape == ref.shape
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    assert cosine_rows(ours, ref).min() > 0.97
    assert np.abs(ours @ ours.T - ref @ ref.T).max() < 0.05
    # length-sorted batches are put back in the caller's order
    np.testing.assert_allclose(int8.encode(SENTENCES[::-1])[::-1], ours, atol=1e-6)
    assert int8.encode([]).shape == (0, ours.shape[1])


@pytest.mark.slow
def test_long_texts_are_not_cut_at_128_tokens(
    int8: OnnxInt8Embedder, torch_embedder: SentenceTransformerEmbedder
) -> None:
    from tokenizers import Tokenizer

    text = f"{HEAD_TEXT} {TAIL_TEXT}"
    tok = Tokenizer.from_file(str(int8.path / "tokenizer.json"))
    tok.no_truncation()
    tok.no_padding()
    enc = tok.encode(text)
    assert 190 <= len(enc.ids) <= int8.max_tokens
    prefix = text[: enc.offsets[126][1]]  # [CLS] + 126 tokens + [SEP] = 128
    assert int8.count_tokens([text, prefix]) == [len(enc.ids), 128]
    assert int8.count_tokens([text]) == torch_embedder.count_tokens([text])
    full, cut = int8.encode([text, prefix])
    assert float(full @ cut) < 0.98
    ref_full, ref_cut = torch_embedder.encode([text, prefix])
    assert float(full @ ref_full) > 0.97
    assert float(full @ ref_full) > float(full @ ref_cut)


@pytest.mark.slow
def test_fingerprint_differs_from_torch_and_is_stable(
    int8: OnnxInt8Embedder, torch_embedder: SentenceTransformerEmbedder, tmp_path: Path
) -> None:
    assert int8.fingerprint != torch_embedder.fingerprint
    fresh = OnnxInt8Embedder(cache_dir=tmp_path)
    assert fresh.fingerprint == int8.fingerprint
    assert list(tmp_path.iterdir()) == []  # known without exporting


def test_make_embedder_picks_the_backend(tmp_path: Path) -> None:
    assert BACKENDS == ("torch", "onnx-int8")
    assert isinstance(make_embedder("torch"), SentenceTransformerEmbedder)
    onnx = make_embedder("onnx-int8", cache_dir=tmp_path, max_tokens=200)
    assert isinstance(onnx, OnnxInt8Embedder) and onnx.max_tokens == 200
    with pytest.raises(ValueError, match="'tf-lite'.*torch, onnx-int8"):
        make_embedder("tf-lite")


@pytest.mark.parametrize(
    ("modules", "pooling"),
    [
        (["Transformer", "Pooling", "Dense", "Normalize"], {"pooling_mode_mean_tokens": True}),
        (["Transformer", "Pooling"], {"pooling_mode_cls_token": True}),
        (["Transformer", "Pooling"], {"pooling_mode": "lasttoken"}),
    ],
)
def test_unsupported_modules_are_refused(tmp_path: Path, modules: list, pooling: dict) -> None:
    paths = {"Pooling": "1_Pooling", "Dense": "2_Dense"}
    entries = [
        {"idx": i, "name": str(i), "path": paths.get(m, ""), "type": f"sentence_transformers.{m}"}
        for i, m in enumerate(modules)
    ]
    (tmp_path / "modules.json").write_text(json.dumps(entries))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    with pytest.raises(ValueError, match="onnx-int8"):
        transformer_folder(tmp_path)


def test_mean_pooling_folder_is_accepted(tmp_path: Path) -> None:
    entries = [
        {"path": "", "type": "sentence_transformers.models.Transformer"},
        {"path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ]
    (tmp_path / "modules.json").write_text(json.dumps(entries))
    (tmp_path / "1_Pooling").mkdir()
    (tmp_path / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "mean"}))
    assert transformer_folder(tmp_path) == tmp_path
