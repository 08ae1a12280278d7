"""Benchmark ``relevance serve`` against ``relevance score`` on the same feeds, loopback only.

    python benchmarks/bench_serve.py                      # the shipped model, ~5 minutes
    python benchmarks/bench_serve.py --unseen 160 --warm 40 --max-seconds 300
    python benchmarks/bench_serve.py --chunk-cost 32,8 # encoder calls of 32 vs 8 feeds

Feeds are the labelled dev feeds (Wikipedia blurbs and ECB+ articles; labels dropped),
shuffled, in two disjoint sets, WARM and UNSEEN; both sides score WARM first and UNSEEN
second, each from a fresh cache, so an item that recurs across feeds is as cached for one
as for the other. Start-up (imports, loading the model and its encoder's weights) is
excluded from both sides. Measured in one run:

1. ``relevance score``'s engine (``score_files``) in one process: WARM untimed, then
   UNSEEN timed (feeds/s). Run before and after the service; the faster run counts.
2. The service (a ``relevance serve`` subprocess): WARM at 1 client, one feed per
   request (unseen latency at 1 client); UNSEEN at 8 clients (feeds/s, target >= 0.8x of
   1; unseen latency at 8 clients); then feeds already seen, at 1 and 8 clients (target:
   seen p50 <= unseen p50 / 5 at 1 client). Latencies are p50/p99, client-side.
3. Peak RSS (VmHWM) of the service and of the one-process run.
4. CPU seconds per feed (user + system, all threads) of the scoring process: the service
   process in each phase, the one-process run in its timed part. On a shared machine
   wall-clock throughput follows what the other tenants leave; CPU per feed does not.
5. At 1 client, the service layer's own share of a request: client latency minus the
   model time the service reports (``Server-Timing: model``) and the queue wait.

How busy the machine was: the load average, and the share of the CPUs that other
processes used during each phase (from /proc/stat, minus this benchmark's processes).
Not a test: nothing asserts the targets; they are printed beside the figures.

``--chunk-cost 32,8`` measures instead what the size of an encoder call costs: the same
``--chunk-feeds`` unseen feeds through ``score_frame`` in one process, without cache, in
calls of 32 feeds and of 8 (a fresh process for each size): CPU seconds and wall time.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = [ROOT / "data" / "dev_graded.jsonl", ROOT / "data" / "ecb_dev.jsonl"]
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
_RUNNING = re.compile(r"Uvicorn running on http://127\.0\.0\.1:(\d+)")


def corpus(n_warm: int, n_unseen: int, seed: int) -> tuple[list[dict], list[dict]]:
    feeds = []
    for path in DATA:
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                feed = json.loads(line)
                items = [{"id": i["id"], "title": i.get("title", ""),
                          "summary": i.get("summary", "")} for i in feed["items"]]  # fmt: skip
                feeds.append({"feed_id": feed["feed_id"], "article": feed["article"],
                              "items": items})  # fmt: skip
    order = np.random.default_rng(seed).permutation(len(feeds))
    feeds = [feeds[i] for i in order]
    if n_warm + n_unseen > len(feeds):
        raise SystemExit(f"--warm + --unseen must be <= {len(feeds)} feeds")
    return feeds[:n_warm], feeds[n_warm : n_warm + n_unseen]


def write_jsonl(path: Path, feeds: list[dict]) -> Path:
    path.write_text("".join(json.dumps(f, ensure_ascii=False) + "\n" for f in feeds), "utf-8")
    return path


# -- CPU accounting -------------------------------------------------------------------------


def _cpu_total() -> tuple[float, float]:
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat", encoding="utf-8") as fh:
        parts = [float(x) for x in fh.readline().split()[1:]]
    idle = parts[3] + parts[4]
    return sum(parts) - idle, sum(parts)


def _cpu_of(pid: int) -> float:
    """utime + stime (+ waited-for children) of a process, jiffies."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            fields = fh.read().rsplit(")", 1)[1].split()
        return sum(float(fields[i]) for i in (11, 12, 13, 14))
    except OSError:
        return 0.0


class Busy:
    """The share of all CPUs that processes other than ``pids`` used while it ran."""

    def __init__(self, pids: list[int]):
        self.pids = pids

    def __enter__(self) -> Busy:
        self.load = os.getloadavg()[0]
        self.machine = _cpu_total()
        self.ours = sum(_cpu_of(p) for p in self.pids)
        return self

    def __exit__(self, *exc: object) -> None:
        busy, total = _cpu_total()
        ours = sum(_cpu_of(p) for p in self.pids) - self.ours
        span = max(total - self.machine[1], 1.0)
        self.others = max(busy - self.machine[0] - ours, 0.0) / span
        self.ours_share = ours / span
        self.load_end = os.getloadavg()[0]

    def line(self) -> str:
        return (
            f"load {self.load:.1f}->{self.load_end:.1f}; other processes used "
            f"{self.others:.0%} of the CPUs, this benchmark {self.ours_share:.0%}"
        )


TICKS = os.sysconf("SC_CLK_TCK")


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="utf-8") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


# -- 1. the one-process run -------------------------------------------------------------------


def baseline_worker(model_dir: str, warm: str, unseen: str, cache: str) -> None:
    """Runs in its own process: prints the timed run's figures as JSON."""
    from relevance.batch import prepare_model, score_files

    model = prepare_model(model_dir, cache_dir=cache)
    model.embedder_.inner.encode(["load the weights"])  # start-up excluded
    score_files(model, [warm], Path(cache) / "warm.out.jsonl")  # untimed: the same cache state
    start, cpu = time.perf_counter(), time.process_time()
    summary = score_files(model, [unseen], Path(cache) / "unseen.out.jsonl")
    seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    print(json.dumps({"seconds": seconds, "cpu": cpu, "feeds": summary.feeds,
                      "rows": summary.rows, "rss_mb": peak_rss_mb(os.getpid())}))  # fmt: skip


def baseline(model_dir: Path, warm: Path, unseen: Path, tmp: Path, k: int) -> dict:
    cache = tmp / f"baseline-cache-{k}"
    cmd = [sys.executable, __file__, "--baseline-worker", str(model_dir), str(warm),
           str(unseen), str(cache)]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    with Busy([os.getpid(), proc.pid]) as busy:
        stdout, _ = proc.communicate(timeout=3600)
    if proc.returncode != 0:
        raise SystemExit(f"baseline run failed ({proc.returncode})")
    result = json.loads(stdout.strip().splitlines()[-1])
    result["busy"] = busy.line()
    return result


def chunk_worker(model_dir: str, size: int, n_feeds: int, seed: int) -> None:
    """Runs in its own process: ``score_frame`` on the feeds in calls of ``size`` feeds."""
    from relevance.batch import prepare_model, score_frame
    from relevance.io.records import records_frame

    feeds = corpus(0, n_feeds, seed)[1]
    model = prepare_model(model_dir, use_cache=False)
    model.embedder_.encode(["load the weights"])  # start-up excluded
    frames = []
    for k in range(0, len(feeds), size):
        part = feeds[k : k + size]
        frames.append(records_frame(part, "bench", [str(i) for i in range(len(part))]))
    start, cpu = time.perf_counter(), time.process_time()
    for frame in frames:
        score_frame(frame, model)
    print(json.dumps({"seconds": time.perf_counter() - start, "cpu": time.process_time() - cpu}))


def chunk_cost(args: argparse.Namespace) -> None:
    for size in [int(x) for x in args.chunk_cost.split(",")]:
        cmd = [sys.executable, __file__, "--chunk-worker", str(args.model), str(size),
               str(args.chunk_feeds), str(args.seed)]  # fmt: skip
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
        with Busy([os.getpid(), proc.pid]) as busy:
            stdout, _ = proc.communicate(timeout=3600)
        if proc.returncode != 0:
            raise SystemExit(f"chunk run failed ({proc.returncode})")
        r = json.loads(stdout.strip().splitlines()[-1])
        print(f"{args.chunk_feeds} feeds in calls of {size}: {r['cpu']:.1f} CPU s "
              f"({r['cpu'] / args.chunk_feeds:.3f} s/feed), {r['seconds']:.1f} s wall "
              f"({busy.line()})", flush=True)  # fmt: skip


# -- 2, 3. the service ------------------------------------------------------------------------


class Service:
    def __init__(self, model_dir: Path, cache: Path, extra: list[str]):
        cmd = [sys.executable, "-c", "import sys; from relevance.cli import main; sys.exit(main())",
               "serve", "--model", str(model_dir), "--port", "0", "--cache-dir", str(cache),
               "--no-access-log", *extra]  # fmt: skip
        self.proc = subprocess.Popen(
            cmd, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.port: int | None = None
        self.lines: list[str] = []
        found = threading.Event()

        def read() -> None:
            assert self.proc.stdout is not None
            for line in self.proc.stdout:
                self.lines.append(line)
                m = _RUNNING.search(line)
                if m and self.port is None:
                    self.port = int(m.group(1))
                    found.set()
            found.set()

        threading.Thread(target=read, daemon=True).start()
        found.wait(600)
        if self.port is None:
            raise SystemExit("the service did not start:\n" + "".join(self.lines))
        self.url = f"http://127.0.0.1:{self.port}"

    def wait_ready(self, timeout: float = 600) -> float:
        import httpx

        start = time.perf_counter()
        while time.perf_counter() - start < timeout:
            try:
                if httpx.get(self.url + "/readyz", timeout=5).status_code == 200:
                    return time.perf_counter() - start
            except httpx.TransportError:
                pass
            time.sleep(0.2)
        raise SystemExit("the service was not ready:\n" + "".join(self.lines))

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(120)


def load(url: str, feeds: list[dict], clients: int, max_seconds: float) -> dict:
    """Each client posts one feed per request until all are sent: latencies, wall time."""
    import httpx

    lock, state = threading.Lock(), {"next": 0}
    latencies: list[float] = []
    served_ms: list[float] = []  # model + queue time the service reports
    start = time.perf_counter()

    def client() -> None:
        with httpx.Client(base_url=url, timeout=300) as http:
            while True:
                with lock:
                    k = state["next"]
                    state["next"] += 1
                if k >= len(feeds) or time.perf_counter() - start > max_seconds:
                    return
                t0 = time.perf_counter()
                res = http.post("/v1/score", json=feeds[k])
                took = time.perf_counter() - t0
                if res.status_code != 200:
                    raise RuntimeError(f"{res.status_code}: {res.text[:300]}")
                timing = res.headers.get("server-timing", "")
                parts = [re.search(rf"{k};dur=([\d.]+)", timing) for k in ("model", "queue")]
                with lock:
                    latencies.append(took)
                    served_ms.append(sum(float(m.group(1)) if m else np.nan for m in parts))

    with ThreadPoolExecutor(clients) as pool:
        for f in [pool.submit(client) for _ in range(clients)]:
            f.result()
    wall = time.perf_counter() - start
    lat = np.asarray(latencies)
    layer = lat * 1000 - np.asarray(served_ms)
    return {
        "layer_p50_ms": float(np.percentile(layer, 50)),
        "requests": len(lat),
        "seconds": wall,
        "feeds_per_s": len(lat) / wall,
        "p50_ms": float(np.percentile(lat, 50) * 1000),
        "p99_ms": float(np.percentile(lat, 99) * 1000),
    }


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--model", type=Path, default=ROOT / "models" / "default")
    p.add_argument("--warm", type=int, default=40, help="feeds of the 1-client unseen set")
    p.add_argument("--unseen", type=int, default=160, help="feeds of the 8-client unseen set")
    p.add_argument("--clients", type=int, default=8)
    p.add_argument("--seen", type=int, default=60, help="requests of a seen feed at 1 client")
    p.add_argument("--max-seconds", type=float, default=600, help="cap of each phase")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--serve-args", default="", help="extra `relevance serve` flags")
    p.add_argument("--chunk-cost", default=None, help="feeds per encoder call, e.g. 32,8")
    p.add_argument("--chunk-feeds", type=int, default=32, help="feeds of --chunk-cost")
    p.add_argument("--baseline-worker", nargs=4, help=argparse.SUPPRESS)
    p.add_argument("--chunk-worker", nargs=4, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.baseline_worker:
        baseline_worker(*args.baseline_worker)
        return
    if args.chunk_worker:
        model_dir, size, n_feeds, seed = args.chunk_worker
        chunk_worker(model_dir, int(size), int(n_feeds), int(seed))
        return
    if args.chunk_cost:
        chunk_cost(args)
        return
    warm, unseen = corpus(args.warm, args.unseen, args.seed)
    cpu = platform.processor() or platform.machine()
    print(f"machine: {os.cpu_count()} CPUs ({cpu}), Python {platform.python_version()}; "
          f"load average at start {os.getloadavg()[0]:.1f}")  # fmt: skip
    print(f"feeds: {len(warm)} (1-client unseen) + {len(unseen)} (8-client unseen), "
          f"{sum(len(f['items']) for f in unseen) / len(unseen):.1f} items a feed")  # fmt: skip
    with tempfile.TemporaryDirectory(prefix="bench-serve-") as tmp_name:
        tmp = Path(tmp_name)
        warm_path = write_jsonl(tmp / "warm.jsonl", warm)
        unseen_path = write_jsonl(tmp / "unseen.jsonl", unseen)
        runs = [baseline(args.model, warm_path, unseen_path, tmp, 0)]
        print(f"relevance score, one process: {runs[0]['feeds'] / runs[0]['seconds']:.2f} "
              f"feeds/s ({runs[0]['busy']})", flush=True)  # fmt: skip

        svc = Service(args.model, tmp / "serve-cache", args.serve_args.split())
        ready = svc.wait_ready()
        phases: dict[str, dict] = {}
        for name, feeds, clients in (
            ("unseen, 1 client", warm, 1),
            (f"unseen, {args.clients} clients", unseen, args.clients),
            ("seen, 1 client", (unseen * 2)[: args.seen], 1),
            (f"seen, {args.clients} clients", unseen, args.clients),
        ):
            cpu = _cpu_of(svc.proc.pid)
            with Busy([os.getpid(), svc.proc.pid]) as busy:
                phases[name] = load(svc.url, feeds, clients, args.max_seconds)
            r = phases[name]
            r["busy"] = busy.line()
            r["cpu_per_feed"] = (_cpu_of(svc.proc.pid) - cpu) / TICKS / r["requests"]
            print(f"{name}: {r['feeds_per_s']:.2f} feeds/s, p50 {r['p50_ms']:.0f} ms, "
                  f"p99 {r['p99_ms']:.0f} ms, service CPU {r['cpu_per_feed']:.3f} s/feed "
                  f"({r['requests']} requests; {r['busy']})", flush=True)  # fmt: skip
        serve_rss = peak_rss_mb(svc.proc.pid)
        code = svc.stop()
        runs.append(baseline(args.model, warm_path, unseen_path, tmp, 1))
        print(f"relevance score, one process, again: {runs[1]['feeds'] / runs[1]['seconds']:.2f}"
              f" feeds/s ({runs[1]['busy']})")  # fmt: skip
    best = max(runs, key=lambda r: r["feeds"] / r["seconds"])
    best_rate = best["feeds"] / best["seconds"]
    best_cpu = min(r["cpu"] / r["feeds"] for r in runs)
    eight = phases[f"unseen, {args.clients} clients"]
    one, seen1 = phases["unseen, 1 client"], phases["seen, 1 client"]
    print()
    print("| run | feeds/s | p50 ms | p99 ms | CPU s/feed | requests |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    print(f"| `relevance score`, one process (best of 2) | {best_rate:.2f} | | | {best_cpu:.3f} "
          f"| {best['feeds']} feeds |")  # fmt: skip
    for name, r in phases.items():
        print(f"| service, {name} | {r['feeds_per_s']:.2f} | {r['p50_ms']:.0f} | "
              f"{r['p99_ms']:.0f} | {r['cpu_per_feed']:.3f} | {r['requests']} |")  # fmt: skip
    print()
    print(f"8-client throughput / one process: {eight['feeds_per_s'] / best_rate:.2f}x "
          "(target >= 0.8x)")  # fmt: skip
    print(f"one process's CPU per feed / the service's at 8 clients: "
          f"{best_cpu / eight['cpu_per_feed']:.2f}x")  # fmt: skip
    print(f"unseen p50 / seen p50 at 1 client: {one['p50_ms'] / seen1['p50_ms']:.1f}x "
          "(target >= 5x)")  # fmt: skip
    print(
        f"service layer per request at 1 client (latency - model - queue), p50: "
        f"unseen {one['layer_p50_ms']:.1f} ms, seen {seen1['layer_p50_ms']:.1f} ms"
    )
    print(f"peak RSS: service {serve_rss:.0f} MB, one process {max(r['rss_mb'] for r in runs):.0f}"
          f" MB; service start-up to ready {ready:.1f} s; service exit code {code}")  # fmt: skip


if __name__ == "__main__":
    main()
