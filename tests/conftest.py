import json
import os
import sys
from pathlib import Path

import pytest

os.environ["HF_HUB_OFFLINE"] = "1"
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
sys.path.insert(0, str(Path(__file__).parent))

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never read or write the user's real cache from tests."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@pytest.fixture
def fake_embedder():
    from fakes import FakeEmbedder

    return FakeEmbedder()


@pytest.fixture
def feeds_jsonl(tmp_path):
    from fakes import make_feeds

    path = tmp_path / "feeds.jsonl"
    path.write_text("".join(json.dumps(f) + "\n" for f in make_feeds()), encoding="utf-8")
    return path


@pytest.fixture(scope="session")
def fitted_fake_model():
    from fakes import FakeEmbedder, feeds_frame

    from relevance.model.estimator import RelevanceModel

    frame = feeds_frame()
    return RelevanceModel(embedder=FakeEmbedder(), n_splits=3).fit(frame), frame


@pytest.fixture(scope="session")
def fitted_graded_model():
    """A two-level model: fake feeds with grades (2 same story, 1 related, 0 other)."""
    from fakes import FakeEmbedder, feeds_frame

    from relevance.model.estimator import RelevanceModel

    frame = feeds_frame(graded=True)
    return RelevanceModel(embedder=FakeEmbedder(), n_splits=3).fit(frame), frame
