"""A model folder may come from anywhere: loading it verifies every file and runs no code.

A changed, missing or foreign file is refused naming it; paths in config.json never
leave the folder (``..``, absolute paths, links); nothing is unpickled, ever; and a
head is only used with the embedder it was fitted on.
"""

from __future__ import annotations

import builtins
import io
import json
import pickle
import shutil
from pathlib import Path

import pytest
from fakes import FakeEmbedder

from relevance.cli import main
from relevance.persistence.artifacts import ModelLoadError, load_model, save_model, sha256_file
from relevance.persistence.backends import register


@pytest.fixture
def saved(fitted_fake_model, tmp_path) -> Path:
    """A fake-fitted model folder with a second backend's head under backends/."""
    folder = save_model(fitted_fake_model[0], tmp_path / "m")
    sub = folder / "backends" / "onnx-int8"
    sub.mkdir(parents=True)
    for name in ("config.json", "head.json", "tfidf.json"):
        shutil.copy(folder / name, sub / name)
    register(folder, "onnx-int8")
    load_model(folder, embedder=FakeEmbedder())  # sound as saved
    return folder


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def _write_config(folder: Path, config: dict) -> None:
    (folder / "config.json").write_text(json.dumps(config))


def _refused(folder: Path, match: str, embedder: object = "fake") -> None:
    with pytest.raises(ModelLoadError, match=match):
        load_model(folder, embedder=FakeEmbedder() if embedder == "fake" else embedder)


@pytest.mark.parametrize(
    "rel",
    [
        "head.json",
        "tfidf.json",
        "backends/onnx-int8/head.json",
        "backends/onnx-int8/tfidf.json",
        "backends/onnx-int8/config.json",
    ],
)
def test_a_changed_file_is_refused_naming_it(saved, rel):
    path = saved / rel
    path.write_bytes(path.read_bytes().replace(b"1", b"2", 1))
    _refused(saved, rf"{rel}: sha256 .* differs .* in config\.json")


def test_a_missing_or_unlisted_required_file_is_refused(saved):
    config = _config(saved)
    config["files"]["extra/weights.safetensors"] = "0" * 64
    _write_config(saved, config)
    _refused(saved, r"extra/weights\.safetensors: missing \(listed in config\.json\)")
    del config["files"]["extra/weights.safetensors"], config["files"]["tfidf.json"]
    _write_config(saved, config)
    _refused(saved, "no hash recorded for tfidf.json")
    (saved / "head.json").unlink()
    _refused(saved, "missing head.json")


@pytest.mark.parametrize("rel", ["../escape.json", "/etc/hostname", "sub/../../escape.json"])
def test_a_config_path_outside_the_folder_is_refused(saved, rel):
    config = _config(saved)
    config["files"][rel] = "0" * 64
    _write_config(saved, config)
    _refused(saved, "outside the model folder")


def test_a_link_out_of_the_folder_is_refused_even_with_the_right_hash(saved, tmp_path):
    outside = tmp_path / "elsewhere.json"
    shutil.copy(saved / "head.json", outside)  # same bytes: the hash alone would pass
    (saved / "head.json").unlink()
    (saved / "head.json").symlink_to(outside)
    _refused(saved, "head.json' points outside the model folder")
    shutil.copy(outside, tmp_path / "config.json")
    (saved / "head.json").unlink()
    shutil.copy(outside, saved / "head.json")
    shutil.move(saved / "config.json", tmp_path / "real-config.json")
    (saved / "config.json").symlink_to(tmp_path / "real-config.json")
    _refused(saved, "config.json' points outside the model folder")


@pytest.mark.parametrize("ref", ["../other-model", "/usr/lib/some-model"])
def test_an_embedder_outside_the_folder_is_refused(saved, ref):
    config = _config(saved)
    config["embedder"]["model"] = ref
    _write_config(saved, config)
    with pytest.raises(ModelLoadError, match="outside the model folder"):
        load_model(saved)  # the folder's own embedder: never looked for outside it


def _with_embedder(saved: Path, fitted_fake_model, files: dict[str, bytes]) -> Path:
    folder = saved.parent / "with-embedder"
    (folder / "embedder").mkdir(parents=True)
    for name, data in files.items():
        (folder / "embedder" / name).write_bytes(data)
    extra = {"files": [f"embedder/{n}" for n in files]}
    save_model(fitted_fake_model[0], folder, extra=extra, embedder_ref="embedder")
    config = _config(folder)
    config["embedder"]["backend"] = "torch"  # as a fine-tuned MiniLM folder records it
    _write_config(folder, config)
    return folder


def test_an_embedder_other_than_the_fitted_one_is_refused(saved, fitted_fake_model):
    folder = _with_embedder(saved, fitted_fake_model, {"model.safetensors": b"other weights"})
    with pytest.raises(ModelLoadError, match="fitted on embedder 'embedder'"):
        load_model(folder)  # its weights hash differently from those the head was fitted on
    _refused(saved, "fitted on embedder", FakeEmbedder(salt="other"))


def test_the_packaged_encoder_is_checked_by_the_hash_of_its_weights(saved):
    config = _config(saved)
    config["embedder"].update(model="sentence-transformers/all-MiniLM-L6-v2", backend="torch")
    _write_config(saved, config)  # a fake-fitted head claiming MiniLM: its sha256 differs
    with pytest.raises(ModelLoadError, match="fitted on embedder"):
        load_model(saved)  # hashes the packaged weights; never loads them


@pytest.mark.parametrize("name", ["pytorch_model.bin", "weights.pkl", "model.pt"])
def test_pickle_based_weights_are_never_loaded(saved, fitted_fake_model, name):
    payload = {"model.safetensors": b"w", name: b"\x80\x04K\x01."}
    folder = _with_embedder(saved, fitted_fake_model, payload)
    with pytest.raises(ModelLoadError, match=f"{name}: pickle-based weights are never loaded"):
        load_model(folder)


def test_a_foreign_module_in_the_embedder_is_refused(saved, fitted_fake_model):
    modules = json.dumps([{"type": "os.system", "path": ""}]).encode()
    folder = _with_embedder(saved, fitted_fake_model, {"modules.json": modules})
    with pytest.raises(ModelLoadError, match="'os.system' is not a sentence-transformers"):
        load_model(folder)


def test_a_pickle_in_the_folder_is_never_opened(saved, fitted_fake_model, monkeypatch, tmp_path):
    marker = tmp_path / "unpickled"
    (saved / "model.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    (saved / "head.pkl").write_bytes(pickle.dumps(_Marker(marker)))
    opened: list[str] = []
    real_open = builtins.open

    def spy(file, *args, **kw):
        opened.append(str(file))
        return real_open(file, *args, **kw)

    def never(*args, **kw):
        raise AssertionError("pickle used while loading a model")

    monkeypatch.setattr(builtins, "open", spy)
    monkeypatch.setattr(io, "open", spy)  # what pathlib's read_text and read_bytes use
    for name in ("load", "loads", "Unpickler"):
        monkeypatch.setattr(pickle, name, never)
    with pytest.raises(ModelLoadError, match=r"head\.pkl, model\.pkl: not listed in config"):
        load_model(saved, embedder=FakeEmbedder())  # unlisted: refused by name, not read
    assert not marker.exists()
    assert any(p.endswith("head.json") for p in opened)  # the spy sees what is read
    assert not [p for p in opened if p.endswith(".pkl")]


class _Marker:
    """Unpickling this creates a file: proof that something was unpickled."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (Path.touch, (self.path,))


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["thresholds"].update(story="high"), r"thresholds\.story.*in \[0, 1\]"),
        (lambda c: c["thresholds"].update(story=1.5), r"thresholds\.story"),
        (lambda c: c["thresholds"].update(story=True), r"thresholds\.story"),
        (lambda c: c.update(levels=["story", "topic"]), "field 'levels'"),
        (lambda c: c.update(default_level="topic"), "field 'default_level'"),
        (lambda c: c.update(files=["head.json"]), "'files' must map"),
        (lambda c: c["embedder"].pop("sha256"), "must record its sha256"),
        (lambda c: c.update(params={"evil": 1}), r"field .params.*evil"),
    ],
)
def test_a_malformed_config_is_refused_not_crashed_on(saved, edit, match):
    config = _config(saved)
    edit(config)
    _write_config(saved, config)
    _refused(saved, match)


def test_a_malformed_head_with_a_matching_hash_is_refused(saved):
    (saved / "head.json").write_text('{"head": 5}')
    config = _config(saved)
    config["files"]["head.json"] = sha256_file(saved / "head.json")
    _write_config(saved, config)
    _refused(saved, r"malformed head\.json or tfidf\.json")


def test_the_cli_refuses_a_tampered_model_with_exit_2(saved, tmp_path, capsys, feeds_jsonl):
    tfidf = saved / "tfidf.json"
    tfidf.write_text(tfidf.read_text().replace('"idf"', '"idf" ', 1))
    args = ["score", str(feeds_jsonl), "--model", str(saved), "--no-progress", "--no-cache"]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert "tfidf.json: sha256" in err and "Traceback" not in err
