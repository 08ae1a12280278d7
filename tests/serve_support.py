"""A real ``relevance serve`` in a subprocess on a free loopback port, for the service tests.

``--port 0`` lets the OS pick the port; it is read from uvicorn's "running on" line, so
parallel test runs never race for one. The fake-encoder CLI (tests/fake_cli.py) serves a
saved fake model; ``real=True`` runs the real CLI.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def cli(real: bool) -> list[str]:
    if real:
        return [
            sys.executable,
            "-c",
            "import sys; from relevance.cli import main; sys.exit(main())",
        ]
    return [sys.executable, str(HERE / "fake_cli.py")]


class Server:
    """A started service: ``url``, ``client`` (httpx), its log so far, ``stop()``."""

    def __init__(self, args: list[str], env: dict | None = None, real: bool = False):
        command = [*cli(real), "serve", "--port", "0", "--no-access-log", *args]
        self.proc = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, "HF_HUB_OFFLINE": "1", **(env or {})},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        self.lines: list[str] = []
        self._port = threading.Event()
        self.port: int | None = None
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()
        self.url = ""
        self.client: httpx.Client | None = None

    def _read(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self.lines.append(line)
            found = _RUNNING.search(line)
            if found and self.port is None:
                self.port = int(found.group(1))
                self._port.set()
        self._port.set()

    @property
    def log(self) -> str:
        return "".join(self.lines)

    def wait_ready(self, timeout: float = 120) -> Server:
        """Until ``/readyz`` says 200 (the encoder is loaded); fails with the log otherwise."""
        deadline = time.monotonic() + timeout
        self._port.wait(timeout)
        if self.port is None:
            self.stop()
            raise AssertionError(f"the service did not start:\n{self.log}")
        self.url = f"http://127.0.0.1:{self.port}"
        self.client = httpx.Client(base_url=self.url, timeout=120)
        while time.monotonic() < deadline:
            try:
                if self.client.get("/readyz").status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        self.stop()
        raise AssertionError(f"the service was not ready in {timeout} s:\n{self.log}")

    def post(self, body: object, **params: object) -> httpx.Response:
        assert self.client is not None
        return self.client.post("/v1/score", json=body, params=params or None)

    def metric(self, name: str) -> float:
        """One sample's value from /metrics (``name`` with its labels, as printed)."""
        assert self.client is not None
        for line in self.client.get("/metrics").text.splitlines():
            if line.startswith(name + " "):
                return float(line.split()[-1])
        return 0.0

    def terminate(self) -> None:
        """SIGTERM, as a process manager stops a service."""
        self.proc.send_signal(signal.SIGTERM)

    def stop(self, timeout: float = 60) -> int:
        if self.client is not None:
            self.client.close()
        if self.proc.poll() is None:
            self.terminate()
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()  # only the process this helper started
            code = self.proc.wait(10)
        self._reader.join(10)  # the log to its last line
        return code
