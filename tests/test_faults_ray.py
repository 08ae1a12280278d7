"""The Ray engine under faults, on loopback only (issue 15, failure 12 and Build).

Without ``--ray-address`` a run starts its own private Ray (never joins one it finds),
bound to 127.0.0.1; a scoring worker killed mid-run is restarted and its batch retried,
so the output is the local engine's, byte for byte.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
from pathlib import Path

import pytest
from batch_support import load_fake, save_fake_model, write_inputs
from fakes import FakeEmbedder

from relevance.batch import score_files

TESTS = str(Path(__file__).parent)
KILL_MARKER = "RELEVANCE_TEST_KILL_MARKER"

pytestmark = pytest.mark.slow


def _need_ray() -> None:
    try:
        import ray  # noqa: F401
        import ray.data  # noqa: F401
    except ImportError as exc:
        if os.environ.get("RELEVANCE_REQUIRE_RAY"):
            pytest.fail(f"RELEVANCE_REQUIRE_RAY is set but Ray cannot be imported ({exc})")
        pytest.skip("Ray is not installed (pip install 'relevance[ray]')")


class KillOnce(FakeEmbedder):
    """The fake encoder, whose process SIGKILLs itself at its second batch, once per test
    (a marker file remembers it across the restarted actor)."""

    def encode(self, texts):
        marker = Path(os.environ[KILL_MARKER])
        if self.calls >= 1 and not marker.exists():
            marker.write_text(str(os.getpid()))
            os.kill(os.getpid(), signal.SIGKILL)
        return super().encode(texts)


@pytest.fixture
def ray_env(tmp_path, monkeypatch):
    """Ray's temp folder of this test alone (short: Ray's socket paths are bounded)."""
    _need_ray()
    temp = Path(tempfile.mkdtemp(prefix="rt", dir="/tmp"))
    monkeypatch.setenv("RAY_TMPDIR", str(temp))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([TESTS, os.environ.get("PYTHONPATH", "")]))
    yield temp
    shutil.rmtree(temp, ignore_errors=True)


def _descendants(root: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [root]
    while todo:
        pid = todo.pop()
        for child in children.get(pid, []):
            if child not in out:
                out.add(child)
                todo.append(child)
    return out


def _listening(pids: set[int]) -> list[str]:
    """Local addresses (hex, as /proc/net shows them) of the TCP sockets ``pids`` listen on."""
    inodes: set[str] = set()
    for pid in pids:
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
        except OSError:
            continue
    out = []
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A" and fields[9] in inodes:  # LISTEN
                out.append(fields[1].split(":")[0])
    return out


LOOPBACK_HEX = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def test_without_an_address_a_private_loopback_ray_is_started(
    ray_env, tmp_path, fitted_fake_model, monkeypatch
):
    """A stale record of a cluster (and RAY_ADDRESS) once made every run fail; now they are
    ignored, and every socket the run's Ray listens on is on 127.0.0.1."""
    import ray

    from relevance.batch.ray_engine import score_ray

    (ray_env / "ray").mkdir()
    (ray_env / "ray" / "ray_current_cluster").write_text("127.0.0.1:6553")  # nobody there
    folder = save_fake_model(fitted_fake_model[0], tmp_path / "model")
    paths = write_inputs(tmp_path, n_feeds=6, n_items=4)
    seen: dict[str, object] = {}

    def progress(event) -> None:
        if event.done and "listen" not in seen:
            seen["node"] = ray.nodes()[0]["NodeManagerAddress"]
            seen["gcs"] = ray.get_runtime_context().gcs_address
            seen["listen"] = _listening(_descendants(os.getpid()))

    out = tmp_path / "ray.jsonl"
    summary = score_ray(
        folder,
        [paths["jsonl"]],
        out=out,
        feeds_per_chunk=2,
        use_cache=False,
        progress=progress,
        embedder_factory="fakes:FakeEmbedder",
    )
    assert summary.complete and summary.feeds == 6
    assert not ray.is_initialized()  # started for the run, stopped after it
    assert seen["node"] == "127.0.0.1" and str(seen["gcs"]).startswith("127.0.0.1:")
    assert seen["listen"] and set(seen["listen"]) <= LOOPBACK_HEX, seen["listen"]
    model, _ = load_fake(folder, use_cache=False)
    local = tmp_path / "local.jsonl"
    score_files(model, [paths["jsonl"]], local, progress=None)
    assert out.read_bytes() == local.read_bytes()


def test_a_worker_killed_mid_run_changes_nothing(ray_env, tmp_path, fitted_fake_model, monkeypatch):
    from relevance.batch.ray_engine import score_ray

    marker = tmp_path / "killed"
    monkeypatch.setenv(KILL_MARKER, str(marker))
    folder = save_fake_model(fitted_fake_model[0], tmp_path / "model")
    paths = write_inputs(tmp_path, n_feeds=12, n_items=5)
    out = tmp_path / "ray.jsonl"
    summary = score_ray(
        folder,
        [paths["jsonl"]],
        out=out,
        feeds_per_chunk=2,
        use_cache=False,
        progress=None,
        embedder_factory="test_faults_ray:KillOnce",
    )
    assert marker.exists(), "no worker was killed: the test did not test anything"
    assert summary.complete and summary.feeds == 12 and summary.rows == 60
    model, _ = load_fake(folder, use_cache=False)
    local = tmp_path / "local.jsonl"
    score_files(model, [paths["jsonl"]], local, progress=None)
    assert out.read_bytes() == local.read_bytes()
