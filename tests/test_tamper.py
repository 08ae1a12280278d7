"""A model folder is a closed manifest: tampering is refused by name, never scored with.

Issue 15, failures 1 (unlisted embedder files change the scores and poison the shared
cache), 6 (a malformed head whose hash matches), 7 (unchecked config values) and 8 (the
embedder's modules.json paths). Each edit below re-signs config.json where needed, so
the hash check alone would pass: what refuses it is the check under test.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import fake_cli
import pytest
from fakes import FakeEmbedder

from relevance.embed.encoder import SentenceTransformerEmbedder
from relevance.persistence.artifacts import ModelLoadError, load_model, save_model, sha256_file
from relevance.persistence.backends import register

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def saved(fitted_fake_model, tmp_path) -> Path:
    folder = save_model(fitted_fake_model[0], tmp_path / "m")
    load_model(folder, embedder=FakeEmbedder(), cache=False)  # sound as saved
    return folder


def _config(folder: Path) -> dict:
    return json.loads((folder / "config.json").read_text())


def _write_config(folder: Path, config: dict) -> None:
    (folder / "config.json").write_text(json.dumps(config))  # NaN/Infinity as Python writes them


def _resign(folder: Path, *rels: str) -> None:
    """Record the current sha256 of ``rels`` in config.json, as a careful forger would."""
    config = _config(folder)
    for rel in rels:
        config["files"][rel] = sha256_file(folder / rel)
    _write_config(folder, config)


def _refused(folder: Path, match: str) -> None:
    with pytest.raises(ModelLoadError, match=match):
        load_model(folder, embedder=FakeEmbedder(), cache=False)


# -- 1. unlisted files ---------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped_copy(tmp_path_factory) -> Path:
    """A copy of the shipped default model (its fine-tuned embedder included)."""
    copy = tmp_path_factory.mktemp("shipped") / "default"
    shutil.copytree(ROOT / "models" / "default", copy)
    return copy


@pytest.mark.parametrize(
    "rel",
    [
        "embedder/added_tokens.json",
        "embedder/special_tokens_map.json",
        "embedder/1_Pooling/extra.json",
        "notes.txt",
        ".hidden",
        "backends/onnx-int8/added_tokens.json",
    ],
)
def test_an_unlisted_file_in_the_shipped_folder_is_refused_naming_it(shipped_copy, rel, tmp_path):
    path = shipped_copy / rel
    path.write_text('{"<evil>": 30522}')
    cache_dir = tmp_path / "cache"
    try:
        with pytest.raises(ModelLoadError, match=rf"{rel}: not listed in config\.json"):
            load_model(shipped_copy, cache_dir=cache_dir)
        with pytest.raises(ModelLoadError, match=rf"{rel}: not listed"):
            load_model(shipped_copy, backend="onnx-int8", cache_dir=cache_dir)
    finally:
        path.unlink()
    assert not cache_dir.exists()  # a refused folder never opened, let alone wrote, the cache
    load_model(shipped_copy, cache=False)  # the same folder without it loads


def test_a_link_is_a_file_too(saved, tmp_path):
    (tmp_path / "target.json").write_text("{}")
    (saved / "alias.json").symlink_to(tmp_path / "target.json")
    _refused(saved, r"alias\.json: not listed")


@pytest.mark.parametrize("rel", ["README.md", "backends/onnx-int8/README.md"])
def test_the_model_card_is_hashed_like_every_other_file(shipped_copy, rel):
    """The card is listed: an edited card is refused, and so is an unlisted (old-style) one."""
    path = shipped_copy / rel
    listed = _config(shipped_copy)["files"]
    assert listed[rel] == sha256_file(path)
    original = path.read_bytes()
    try:
        path.write_bytes(original + b"\nThis model is certified for medical use.\n")
        with pytest.raises(ModelLoadError, match=rf"{rel}: sha256 .* differs"):
            load_model(shipped_copy, cache=False)
    finally:
        path.write_bytes(original)
    load_model(shipped_copy, cache=False)


def test_an_unlisted_card_is_refused_with_how_to_list_it(saved, tmp_path):
    from relevance.train.card import write_card

    write_card(saved)
    assert "README.md" in _config(saved)["files"]
    before = {p.name: p.read_bytes() for p in saved.iterdir()}
    write_card(saved)  # rendering again changes nothing: the card is a function of the rest
    assert {p.name: p.read_bytes() for p in saved.iterdir()} == before
    config = _config(saved)
    del config["files"]["README.md"]
    _write_config(saved, config)
    _refused(saved, r"README\.md: not listed in config\.json.*python -m relevance\.train\.card")
    write_card(saved)
    load_model(saved, embedder=FakeEmbedder(), cache=False)


def test_the_cache_key_covers_every_embedder_file_not_just_the_weights(shipped_copy):
    """A re-signed tokenizer change (unlisted: refused; listed: another key) never shares
    the untouched model's cache entries, so the untouched model cannot be poisoned."""
    untouched = load_model(ROOT / "models" / "default", cache=False).embedder_
    extra = shipped_copy / "embedder" / "special_tokens_map.json"
    extra.write_text('{"unk_token": "[SEP]"}')
    try:
        _resign(shipped_copy, "embedder/special_tokens_map.json")
        forged = load_model(shipped_copy, cache=False).embedder_
    finally:
        extra.unlink()
        config = _config(shipped_copy)
        del config["files"]["embedder/special_tokens_map.json"]
        _write_config(shipped_copy, config)
    assert forged.fingerprint == untouched.fingerprint  # same weights: the head still fits
    assert forged.cache_key != untouched.cache_key
    # Derived from the verified manifest, equal to hashing the files themselves (what a
    # training run that wrote the folder used), so train and score share entries.
    on_disk = SentenceTransformerEmbedder(ROOT / "models" / "default" / "embedder")
    assert on_disk.cache_key == untouched.cache_key
    tokens = untouched.max_tokens
    untouched.max_tokens, untouched._cache_key = tokens - 1, None  # windows shape vectors
    assert untouched.cache_key != on_disk.cache_key


def test_a_backend_registered_later_is_listed_whole(saved):
    sub = saved / "backends" / "onnx-int8"
    shutil.copytree(saved, sub, ignore=shutil.ignore_patterns("backends"))
    (sub / "training_texts.json").write_text('{"articles": [], "items": []}')
    config = _config(sub)
    config["files"]["training_texts.json"] = sha256_file(sub / "training_texts.json")
    _write_config(sub, config)
    register(saved, "onnx-int8")
    assert "backends/onnx-int8/training_texts.json" in _config(saved)["files"]
    load_model(saved, embedder=FakeEmbedder(), cache=False)


# -- 6. a malformed head whose hash matches -----------------------------------------


def _edit_head(folder: Path, edit) -> None:
    state = json.loads((folder / "head.json").read_text())
    for stage in state["stages"].values():
        edit(stage["head"])
    (folder / "head.json").write_text(json.dumps(state))
    _resign(folder, "head.json")


@pytest.mark.parametrize(
    "edit, match",
    [
        (
            lambda h: h.update(coef=h["coef"][:-1], mean=h["mean"][:-1], scale=h["scale"][:-1]),
            "coefficients, expected",
        ),
        (lambda h: h["coef"].__setitem__(0, math.nan), "head coef: expected a list of finite"),
        (lambda h: h["scale"].__setitem__(3, 0.0), r"head scale: expected every value > 0"),
        (lambda h: h.update(intercept=math.inf), "head intercept"),
        (lambda h: h.update(coef=h["coef"][:-1]), "differ in length"),
    ],
)
def test_a_malformed_head_with_a_matching_hash_is_refused(saved, edit, match):
    _edit_head(saved, edit)
    _refused(saved, rf"malformed head\.json or tfidf\.json \(.*{match}")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda t: t["idf"].__setitem__(0, math.nan), r"field 'idf'.*finite numbers > 0"),
        (lambda t: t["idf"].__setitem__(0, -1.0), r"field 'idf'"),
        (lambda t: t["idf"].pop(), r"field 'idf'.*one per word"),
        (lambda t: t["vocabulary"].__setitem__(1, t["vocabulary"][0]), "distinct words"),
    ],
)
def test_a_malformed_tfidf_with_a_matching_hash_is_refused(saved, edit, match):
    state = json.loads((saved / "tfidf.json").read_text())
    edit(state)
    (saved / "tfidf.json").write_text(json.dumps(state))
    _resign(saved, "tfidf.json")
    _refused(saved, rf"tfidf\.json: .*{match}")


def test_the_cli_refuses_a_malformed_head_with_exit_2(saved, feeds_jsonl, tmp_path, capsys):
    _edit_head(saved, lambda h: h["scale"].__setitem__(0, 0.0))
    out = tmp_path / "out.jsonl"
    args = ["score", str(feeds_jsonl), "--model", str(saved), "--out", str(out)]
    assert fake_cli.main([*args, "--no-progress", "--no-cache"]) == 2
    err = capsys.readouterr().err
    assert "head scale" in err and "Traceback" not in err
    assert not out.exists()


# -- 7. config values ---------------------------------------------------------------


@pytest.mark.parametrize("value", ["0.5", True, math.nan, math.inf, 1e9, -5, None, [0.5]])
def test_a_threshold_outside_0_1_or_not_a_number_is_refused(saved, value):
    config = _config(saved)
    config["thresholds"]["story"] = value
    _write_config(saved, config)
    _refused(saved, r"field 'thresholds\.story'.*expected a number in \[0, 1\]")


@pytest.mark.parametrize("value", ["abc", -1, 0, 2.5, True, 10**6, None])
def test_a_token_window_that_is_not_a_positive_integer_is_refused(saved, value):
    config = _config(saved)
    config["embedder"]["max_tokens"] = value
    _write_config(saved, config)
    _refused(saved, r"field 'embedder\.max_tokens'.*positive integer token window")


@pytest.mark.parametrize(
    "edit, match",
    [
        (lambda c: c["threshold_choices"]["story"].update(threshold="x"), "threshold_choices"),
        (lambda c: c["threshold_choices"]["story"].update(recall=math.nan), "recall"),
        (lambda c: c["embedder"].update(sha256="zz"), r"embedder\.sha256"),
        (lambda c: c["params"].update(C=-1), r"'params'.*C"),
        (lambda c: c["params"].update(n_splits="five"), r"'params'.*n_splits"),
        (lambda c: c.update(params=[1]), r"field 'params'"),
        (lambda c: c["embedder"].update(backend=5), r"embedder\.backend"),
    ],
)
def test_other_config_values_are_checked(saved, edit, match):
    config = _config(saved)
    edit(config)
    _write_config(saved, config)
    _refused(saved, match)


# -- 8. the embedder's modules.json --------------------------------------------------


def _with_modules(saved: Path, fitted_fake_model, modules: object) -> Path:
    folder = saved.parent / "with-embedder"
    (folder / "embedder" / "1_Pooling").mkdir(parents=True)
    (folder / "embedder" / "model.safetensors").write_bytes(b"weights")
    (folder / "embedder" / "1_Pooling" / "config.json").write_text("{}")
    (folder / "embedder" / "modules.json").write_text(json.dumps(modules))
    files = ["model.safetensors", "1_Pooling/config.json", "modules.json"]
    extra = {"files": [f"embedder/{n}" for n in files]}
    save_model(fitted_fake_model[0], folder, extra=extra, embedder_ref="embedder")
    config = _config(folder)
    config["embedder"]["backend"] = "torch"
    _write_config(folder, config)
    return folder


def _module(path: object, kind: str = "sentence_transformers.models.Pooling") -> list[dict]:
    return [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": path, "type": kind},
    ]


@pytest.mark.parametrize(
    "modules, match",
    [
        (_module("../../m"), r"module \[1\] field 'path': got '\.\./\.\./m'.*inside the embedder"),
        (_module("/etc"), r"field 'path': got '/etc'"),
        (_module("2_Missing"), r"field 'path': got '2_Missing'.*none there"),
        (_module(7), r"field 'path': got 7"),
        ({"0": "x"}, "expected a non-empty list"),
        ([{"path": ""}], r"module \[0\] field 'type'"),
    ],
)
def test_modules_json_paths_are_checked_by_relevance(saved, fitted_fake_model, modules, match):
    folder = _with_modules(saved, fitted_fake_model, modules)
    with pytest.raises(ModelLoadError, match=rf"embedder/modules\.json: .*{match}"):
        load_model(folder, cache=False)


def test_a_sound_modules_json_passes_to_the_weights_check(saved, fitted_fake_model):
    folder = _with_modules(saved, fitted_fake_model, _module("1_Pooling"))
    with pytest.raises(ModelLoadError, match="fitted on embedder"):  # the next check
        load_model(folder, cache=False)


# -- cached exports ---------------------------------------------------------------------


@pytest.mark.slow
def test_a_damaged_onnx_export_is_exported_again_never_used(tmp_path, caplog):
    import numpy as np

    from relevance.embed.onnx import META_FILE, OnnxInt8Embedder

    texts = ["River floods force evacuations.", "Stocks fall as the bank raises rates."]
    first = OnnxInt8Embedder(cache_dir=tmp_path)
    path = first.export()
    want = first.encode(texts)
    meta = json.loads((path.parent / META_FILE).read_text())
    assert meta["sha256"] == sha256_file(path)  # hashed when written
    damaged = bytearray(path.read_bytes())
    damaged[len(damaged) // 2] ^= 0xFF
    path.write_bytes(bytes(damaged))
    again = OnnxInt8Embedder(cache_dir=tmp_path)
    got = again.encode(texts)  # checked when loaded: exported again, not used
    assert "not used, exported again" in caplog.text
    assert sha256_file(path) != sha256_file_of(damaged)
    assert sha256_file(path) == json.loads((path.parent / META_FILE).read_text())["sha256"]
    np.testing.assert_allclose(got, want, atol=1e-5)


def sha256_file_of(data: bytes) -> str:
    import hashlib

    return hashlib.sha256(data).hexdigest()
