"""Scoring output is unchanged by refactors: the shipped models on fixed inputs.

``tests/golden/expected`` was written by ``python tests/golden.py write tests/golden --feeds 8``
before the package was reorganised, and rewritten when the shipped models were retrained for
two levels; every later change must reproduce it (probabilities within 1e-6, everything else
identical). Rewrite it only when the shipped models change.
"""

import shutil

import golden
import pytest
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_outputs_match_the_golden_files(tmp_path):
    shutil.copytree(ROOT / "tests" / "golden" / "inputs", tmp_path / "inputs")
    golden.score_all(tmp_path / "inputs", tmp_path / "actual")
    worst = golden.compare(ROOT / "tests" / "golden" / "expected", tmp_path / "actual")
    assert worst <= golden.TOLERANCE


def test_compare_catches_a_changed_probability(tmp_path):
    expected = ROOT / "tests" / "golden" / "expected"
    shutil.copytree(expected, tmp_path / "actual")
    path = tmp_path / "actual" / "default-feeds_jsonl.jsonl"
    text = path.read_text(encoding="utf-8")
    first = text.index('"probability": ') + len('"probability": ')
    path.write_text(text[:first] + "0.5" + text[text.index(",", first) :], encoding="utf-8")
    with pytest.raises(AssertionError, match="probability"):
        golden.compare(expected, tmp_path / "actual")
