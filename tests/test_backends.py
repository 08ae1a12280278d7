"""Per-backend heads: refusal without one, add-backend, verification, the CLI."""

from __future__ import annotations

import json

import pytest
from batch_support import save_fake_model
from fakes import FakeEmbedder, make_feeds

from relevance.cli import main
from relevance.persistence.artifacts import ModelLoadError, load_model
from relevance.persistence.backends import available
from relevance.train.add_backend import add_backend


@pytest.fixture
def fake_folder(tmp_path, fitted_fake_model):
    return save_fake_model(fitted_fake_model[0], tmp_path / "model")


@pytest.fixture
def train_file(tmp_path):
    path = tmp_path / "train.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in make_feeds()), encoding="utf-8")
    return path


def test_backend_without_a_head_is_refused_clearly(fake_folder):
    with pytest.raises(ModelLoadError) as err:
        load_model(fake_folder, backend="onnx-int8")
    message = str(err.value)
    assert "no head for backend 'onnx-int8'" in message and "'fake'" in message
    assert f"relevance add-backend {fake_folder}" in message and "--backend onnx-int8" in message


def test_cli_refuses_with_exit_2(fake_folder, tmp_path, capsys, feeds_jsonl):
    code = main(
        ["score", str(feeds_jsonl), "--model", str(fake_folder), "--backend", "onnx-int8"]
        + ["--no-progress", "--cache-dir", str(tmp_path / "c")]
    )
    assert code == 2
    assert "no head for backend 'onnx-int8'" in capsys.readouterr().err


def test_add_backend_keeps_the_main_head_byte_identical(fake_folder, train_file):
    before = {p.name: p.read_bytes() for p in fake_folder.iterdir()}
    int8 = FakeEmbedder(salt="int8")  # stands in for the int8 encoder: other vectors
    add_backend(fake_folder, [train_file], "onnx-int8", embedder=int8, use_cache=False)
    assert (fake_folder / "head.json").read_bytes() == before["head.json"]
    assert (fake_folder / "tfidf.json").read_bytes() == before["tfidf.json"]
    old = json.loads(before["config.json"])
    new = json.loads((fake_folder / "config.json").read_text())
    assert {k: v for k, v in new.items() if k not in ("files", "backends")} == {
        k: v for k, v in old.items() if k != "files"
    }
    assert old["files"].items() <= new["files"].items()
    assert new["backends"] == {"onnx-int8": "backends/onnx-int8"}
    assert available(new) == ["fake", "onnx-int8"]

    model = load_model(fake_folder, embedder=FakeEmbedder(salt="int8"), backend="onnx-int8")
    assert model.config_["embedder"]["sha256"] == int8.fingerprint
    main_model = load_model(fake_folder, embedder=FakeEmbedder())
    assert main_model.thresholds_ == old["thresholds"]
    with pytest.raises(ModelLoadError, match="fitted on embedder"):  # heads never cross
        load_model(fake_folder, embedder=FakeEmbedder(), backend="onnx-int8")


def test_tampered_backend_head_is_refused(fake_folder, train_file):
    add_backend(fake_folder, [train_file], "onnx-int8", embedder=FakeEmbedder("x"), use_cache=False)
    head = fake_folder / "backends" / "onnx-int8" / "head.json"
    head.write_text(head.read_text().replace("0", "1", 1))
    with pytest.raises(ModelLoadError, match="head.json: sha256"):
        load_model(fake_folder, embedder=FakeEmbedder())  # the root config hashes it too


def test_add_backend_refuses_the_main_backend(fake_folder, train_file):
    with pytest.raises(ValueError, match="already fitted on 'fake'"):
        add_backend(fake_folder, [train_file], "fake", embedder=FakeEmbedder())
