"""Benchmark batch scoring: the warm path against a bare Arrow pipeline, cold encoding,
memory, start-up, and torch against onnx-int8.

    python benchmarks/bench_score.py --skip-backends     # defaults: 20,000 feeds x 20 items
    python benchmarks/bench_score.py --feeds 2000 --scale 10

Builds a corpus from the dev feeds (``--feeds`` feeds of ``--items`` items drawn
from a pool of ``--pool`` distinct items; articles cycle through the dev
articles), then prints, from one run:

1. a cold run (empty cache, encoder already loaded): feeds/s, items/s, and the
   unique texts it embedded per second against a bare ``SentenceTransformer.encode``
   of the very same texts in this process (run before and after the pipeline; the
   faster of the two is the reference), in wall-clock and in CPU time (target >= 0.9x);
2. the same input again, cache-warm, written as Parquet, against the floor of a columnar
   pipeline: a bare pyarrow read of the JSONL + explode to one row per item + Parquet
   write of the same rows (the faster of two runs; target: warm <= 2.5x the floor);
3. peak RSS (VmHWM of a fresh process) scoring 1x and ``--scale``x the input (target:
   within 10%);
4. start-up: ``relevance --help`` wall time (fresh process), and the import time of a
   fully cached scoring run (fresh process; it must not import torch);
5. unless ``--skip-backends``, torch against onnx-int8: encoding speed on the same texts,
   and the change in average precision on held-out dev stories (dev split by story; each
   backend's model fitted on the other stories).

Start-up (imports, loading the model) is excluded from both sides of 1 and 2.

Not a test: nothing asserts the targets; it prints them next to the figures.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DEV = ROOT / "data" / "dev.jsonl"
META = ROOT / "data" / "dev.meta.jsonl"
MODEL = ROOT / "models" / "default"
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def make_corpus(
    path: Path, n_feeds: int, n_items: int, pool_size: int, n_articles: int, seed: int = 0
) -> None:
    """Feeds of dev articles with items drawn from a fixed pool of distinct items.

    A larger corpus uses the same articles and pool: the same texts, more feeds.
    """
    feeds = [json.loads(line) for line in DEV.open(encoding="utf-8") if line.strip()]
    articles = [f["article"] for f in feeds][:n_articles]
    items = list({(i["title"], i.get("summary", "")): None for f in feeds for i in f["items"]})
    rng = np.random.default_rng(seed)
    while len(items) < pool_size:  # recombine titles and summaries into new distinct items
        a, b = rng.integers(len(items), size=2)
        items.append((items[a][0], items[b][1]))
        items = list(dict.fromkeys(items))
    pool = items[:pool_size]
    with path.open("w", encoding="utf-8") as fh:
        for k in range(n_feeds):
            picks = rng.choice(len(pool), size=min(n_items, len(pool)), replace=False)
            record = {
                "feed_id": f"bench-{k:07d}",
                "article": articles[k % len(articles)],
                "items": [
                    {"id": f"it-{j}", "title": pool[j][0], "summary": pool[j][1]} for j in picks
                ],
            }
            fh.write(json.dumps(record, ensure_ascii=False) + "\n")


def repeat(corpus: Path, big: Path, times: int) -> None:
    """``times`` copies of the corpus under new feed ids: more feeds, the very same texts."""
    with corpus.open(encoding="utf-8") as src, big.open("w", encoding="utf-8") as out:
        lines = src.readlines()
        for r in range(times):
            prefix = f'"feed_id": "r{r}-'
            out.writelines(line.replace('"feed_id": "', prefix, 1) for line in lines)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            names = [line.split(":", 1)[1].strip() for line in fh if line.startswith("model name")]
        cpu = names[0] if names else cpu
    except OSError:
        pass
    return f"{os.cpu_count()} CPUs (nproc), {cpu}, Python {platform.python_version()}"


class Recorder:
    """Wraps the encoder to keep the texts it is actually asked to embed."""

    def __init__(self, inner):
        self.inner, self.texts, self.seconds = inner, [], 0.0
        self.model_id, self.max_tokens = inner.model_id, inner.max_tokens
        self.backend = getattr(inner, "backend", "torch")

    @property
    def fingerprint(self) -> str:
        return self.inner.fingerprint

    @property
    def cache_key(self) -> str:
        """The real encoder's key, so the cold run fills the cache the warm runs read."""
        return self.inner.cache_key

    def count_tokens(self, texts):
        return self.inner.count_tokens(texts)

    def encode(self, texts):
        self.texts.extend(texts)
        start = time.perf_counter()
        out = self.inner.encode(texts)
        self.seconds += time.perf_counter() - start
        return out


class DryRun:
    """An encoder that returns zeros: lists the texts a run would embed, without a model."""

    def __init__(self, inner):
        self.inner, self.texts = inner, []
        self.model_id, self.max_tokens, self.fingerprint = inner.model_id, inner.max_tokens, "dry"

    def count_tokens(self, texts):
        return self.inner.count_tokens(texts)

    def encode(self, texts):
        self.texts.extend(texts)
        return np.zeros((len(texts), 384), dtype=np.float32)


def bare_encode(inner, texts: list[str]) -> tuple[float, float]:
    """(wall, CPU) seconds of a plain SentenceTransformer.encode of ``texts``."""
    start, cpu = time.perf_counter(), time.process_time()
    inner.model.encode(
        texts, batch_size=inner.batch_size, normalize_embeddings=True, show_progress_bar=False
    )
    return time.perf_counter() - start, time.process_time() - cpu


def arrow_floor(corpus: Path, out: Path) -> float:
    """Seconds for pyarrow to read the feeds, explode them to item rows and write Parquet."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    start = time.perf_counter()
    table = pj.read_json(corpus, read_options=pj.ReadOptions(block_size=1 << 26))
    items = table.column("items").combine_chunks()
    parent = pc.list_parent_indices(items)
    flat = pc.list_flatten(items)
    article = table.column("article").combine_chunks()
    rows = pa.table(
        {
            "feed_id": table.column("feed_id").take(parent),
            "article_title": pc.struct_field(article, "title").take(parent),
            "article_body": pc.struct_field(article, "body").take(parent),
            "item_id": pc.struct_field(flat, "id"),
            "item_title": pc.struct_field(flat, "title"),
            "item_summary": pc.struct_field(flat, "summary"),
        }
    )
    pq.write_table(rows, out)
    return time.perf_counter() - start


def startup(corpus: Path, cache: Path) -> dict:
    """``relevance --help`` wall time, and the imports of a fully cached run (fresh processes)."""
    cli = Path(sys.executable).with_name("relevance")
    helps = []
    for _ in range(3):
        start = time.perf_counter()
        subprocess.run([str(cli), "--help"], capture_output=True, check=True)
        helps.append(time.perf_counter() - start)
    code = (
        "import sys, time\n"
        "t = time.perf_counter()\n"
        "from relevance.cli import main\n"
        "import relevance.batch.engine, relevance.batch.score, relevance.persistence.artifacts\n"
        "imports = time.perf_counter() - t\n"
        f"main(['score', {str(corpus)!r}, '--model', {str(MODEL)!r}, '--cache-dir', "
        f"{str(cache)!r}, '--no-progress', '--out', {str(corpus) + '.startup.jsonl'!r}])\n"
        "print(imports, 'torch' in sys.modules, 'sklearn' in sys.modules)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    imports, torch, sklearn = res.stdout.split()[-3:]
    return {
        "help_s": min(helps),
        "cached_imports_s": float(imports),
        "torch": torch == "True",
        "sklearn": sklearn == "True",
    }


def throughput(corpus: Path, work: Path) -> dict:
    """Cold then warm run; a bare encode of the same texts before and after the cold run."""
    import shutil

    from relevance.batch import prepare_model, score_files
    from relevance.embed.cache import cached

    cache = work / "cache-cold"
    shutil.rmtree(cache, ignore_errors=True)
    model = prepare_model(MODEL, cache_dir=cache)
    inner = model.embedder_.inner
    dry = DryRun(inner)
    model.embedder_ = cached(dry, work / "cache-dry", in_memory=20_000)
    score_files(model, [corpus], work / "dry.jsonl", progress=None)
    shutil.rmtree(work / "cache-dry")
    start = time.perf_counter()
    _ = inner.model  # load the weights now: the cold figures are steady-state throughput
    load = time.perf_counter() - start
    bare_before = bare_encode(inner, dry.texts)
    recorder = Recorder(inner)
    model.embedder_ = cached(recorder, cache, in_memory=20_000)
    cpu = time.process_time()
    cold = score_files(model, [corpus], work / "cold.jsonl", progress=None)
    cold_cpu = time.process_time() - cpu
    bare_after = bare_encode(inner, recorder.texts)
    warm_model = prepare_model(MODEL, cache_dir=cache)
    warm_jsonl = score_files(warm_model, [corpus], work / "warm.jsonl", progress=None)
    if warm_model.embedder_.inner._model is not None:
        raise SystemExit("the warm JSONL run loaded the encoder: the cold run filled another key")
    same = (work / "cold.jsonl").read_bytes() == (work / "warm.jsonl").read_bytes()
    warm_model = prepare_model(MODEL, cache_dir=cache)
    warm = score_files(warm_model, [corpus], work / "warm.parquet", progress=None)
    floors = [arrow_floor(corpus, work / "floor.parquet") for _ in range(2)]
    return {
        "model_load_s": load,
        "cold": cold,
        "warm": warm,
        "unique_texts": len(recorder.texts),
        "same_texts": sorted(dry.texts) == sorted(recorder.texts),
        "encode_in_pipeline_s": recorder.seconds,
        # The faster bare run is the reference (the conservative choice): the first encode
        # after loading is often the slower one, it pays for the encoder's warm-up.
        "bare_s": min(bare_before[0], bare_after[0]),
        "bare_runs": (bare_before[0], bare_after[0]),
        "cold_cpu_s": cold_cpu,
        "bare_cpu_s": min(bare_before[1], bare_after[1]),
        "warm_loaded_encoder": warm_model.embedder_.inner._model is not None,
        "same_output": same,
        "warm_jsonl": warm_jsonl,
        "floor_s": min(floors),
    }


def peak_rss(corpus: Path, cache: Path, out: Path) -> tuple[float, float]:
    """(peak RSS MiB, seconds) of a fresh process scoring ``corpus`` with a warm cache."""
    # VmHWM, not ru_maxrss: Linux carries ru_maxrss across exec, so a child started from
    # this (large) process would report this process's peak.
    code = (
        "import time\n"
        "from relevance.batch import prepare_model, score_files\n"
        f"m = prepare_model({str(MODEL)!r}, cache_dir={str(cache)!r})\n"
        "t = time.perf_counter()\n"
        f"s = score_files(m, [{str(corpus)!r}], {str(out)!r}, progress=None)\n"
        "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]\n"
        "print(hwm, time.perf_counter() - t, s.encoded)\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    kib, seconds, encoded = res.stdout.split()[-3:]
    if encoded != "0":
        print(f"warning: the {corpus.name} run encoded {encoded} texts (cache not warm)")
    return int(kib) / 1024, float(seconds)


def held_out_split() -> tuple[object, np.ndarray, np.ndarray]:
    """Dev feeds, and a deterministic split by story: 1 story in 5 held out (by hash)."""
    from relevance.io.reader import read_input
    from relevance.train.pipeline import load_groups

    frame = read_input(DEV)
    stories = load_groups(frame, META, "anchor.story")
    test = np.array([int(hashlib.sha256(s.encode()).hexdigest(), 16) % 5 == 0 for s in stories])
    return frame, stories, test


def backends(texts: list[str], cache_dir: Path) -> dict:
    """Encoding speed on the same texts, and held-out AP, for torch and onnx-int8."""
    from sklearn.metrics import average_precision_score

    from relevance.embed.cache import cached
    from relevance.embed.onnx import make_embedder
    from relevance.model.estimator import RelevanceModel

    frame, stories, test = held_out_split()
    train, held = frame[~test].reset_index(drop=True), frame[test].reset_index(drop=True)
    y = held["label"].to_numpy()
    out = {"held_out_items": int(len(held)), "held_out_stories": len(set(stories[test]))}
    for name in ("torch", "onnx-int8"):
        kw = {"cache_dir": cache_dir} if name != "torch" else {}
        embedder = make_embedder(name, **kw)
        embedder.encode(texts[:64])  # load (and export once) outside the timing
        start = time.perf_counter()
        embedder.encode(texts)
        speed = len(texts) / (time.perf_counter() - start)
        model = RelevanceModel(embedder=cached(embedder, cache_dir), random_state=0)
        model.fit(train, groups=stories[~test])
        ap = float(average_precision_score(y, model.predict_proba(held)[:, 1]))
        out[name] = {"texts_per_s": speed, "held_out_ap": ap}
    return out


def main() -> None:
    global MODEL
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--feeds", type=int, default=20000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--pool", type=int, default=5000)
    parser.add_argument("--scale", type=int, default=10, help="the larger input for peak RSS")
    parser.add_argument("--backend-texts", type=int, default=2000, help="texts timed per backend")
    parser.add_argument("--work", type=Path, default=None, help="folder for corpora and outputs")
    parser.add_argument("--skip-backends", action="store_true")
    parser.add_argument("--model", type=Path, default=MODEL, help="model folder to score with")
    args = parser.parse_args()
    MODEL = args.model.resolve()
    work = args.work or Path(tempfile.mkdtemp(prefix="relevance-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    print(f"machine: {machine()}")
    corpus, big = work / "corpus-1x.jsonl", work / f"corpus-{args.scale}x.jsonl"
    make_corpus(corpus, args.feeds, args.items, args.pool, min(args.feeds, 262))
    make_corpus(work / "startup.jsonl", 20, args.items, args.pool, 20)  # texts of the corpus
    repeat(corpus, big, args.scale)
    print(f"corpus: {args.feeds} feeds x {args.items} items from a pool of {args.pool}; {work}")

    r = throughput(corpus, work)
    cold, warm = r["cold"], r["warm"]
    pipeline_rate = r["unique_texts"] / cold.seconds
    bare_rate = r["unique_texts"] / r["bare_s"]
    print(f"encoder load (not in the cold figures): {r['model_load_s']:.1f} s")
    print(
        f"cold: {cold.seconds:.1f} s, {cold.feeds / cold.seconds:.1f} feeds/s, "
        f"{cold.rows / cold.seconds:.0f} items/s; {r['unique_texts']} unique texts embedded "
        f"({r['encode_in_pipeline_s']:.1f} s of it in the encoder; "
        f"same texts as the dry run: {r['same_texts']})"
    )
    before, after = r["bare_runs"]
    print(
        f"unique texts/s: pipeline {pipeline_rate:.1f} vs bare encode {bare_rate:.1f} "
        f"(bare runs before/after the pipeline: {before:.1f} s / {after:.1f} s; the faster counts) "
        f"= {pipeline_rate / bare_rate:.2f}x (target >= 0.9x)"
    )
    print(
        f"  the same in CPU time (steadier on a shared machine): pipeline {r['cold_cpu_s']:.1f} s "
        f"vs bare {r['bare_cpu_s']:.1f} s = {r['bare_cpu_s'] / r['cold_cpu_s']:.2f}x"
    )
    wj = r["warm_jsonl"]
    print(
        f"warm, Parquet out: {warm.seconds:.2f} s, {warm.rows / warm.seconds:.0f} items/s, hit "
        f"rate {warm.hit_rate:.0%}, encoder loaded: {r['warm_loaded_encoder']}; bare pyarrow "
        f"read + explode + Parquet write of the same rows: {r['floor_s']:.2f} s; warm / floor = "
        f"{warm.seconds / r['floor_s']:.1f}x (target <= 2.5x)"
    )
    print(
        f"warm, JSONL out: {wj.seconds:.2f} s; cold / warm {cold.seconds / wj.seconds:.1f}x; "
        f"identical to the cold run's output: {r['same_output']}"
    )
    rss1, t1 = peak_rss(corpus, work / "cache-cold", work / "rss-1x.jsonl")
    rss10, t10 = peak_rss(big, work / "cache-cold", work / "rss-big.jsonl")
    print(
        f"peak RSS (warm cache, fresh process): 1x {rss1:.0f} MiB ({t1:.1f} s), "
        f"{args.scale}x {rss10:.0f} MiB ({t10:.1f} s): {100 * (rss10 / rss1 - 1):+.1f}% "
        "(target within 10%)"
    )
    s = startup(work / "startup.jsonl", work / "cache-cold")
    print(
        f"start-up: relevance --help {s['help_s']:.2f} s (fresh process, wall); a fully cached "
        f"run's imports {s['cached_imports_s']:.2f} s (torch imported: {s['torch']}, "
        f"scikit-learn imported: {s['sklearn']}; target: well under 1 s)"
    )
    if args.skip_backends:
        return
    from relevance.embed.cache import default_cache_dir

    texts = sorted(set(r_text for r_text in _corpus_texts(corpus)))[: args.backend_texts]
    b = backends(texts, default_cache_dir())
    t, q = b["torch"], b["onnx-int8"]
    print(
        f"encode {len(texts)} texts: torch {t['texts_per_s']:.1f}/s, onnx-int8 "
        f"{q['texts_per_s']:.1f}/s = {q['texts_per_s'] / t['texts_per_s']:.2f}x (target >= 2x)"
    )
    print(
        f"held-out AP ({b['held_out_items']} items, {b['held_out_stories']} stories): torch "
        f"{t['held_out_ap']:.4f}, onnx-int8 {q['held_out_ap']:.4f}, change "
        f"{q['held_out_ap'] - t['held_out_ap']:+.4f} (target within 0.005)"
    )


def _corpus_texts(corpus: Path) -> list[str]:
    from relevance.io.text import clean_text, item_text

    out = []
    with corpus.open(encoding="utf-8") as fh:
        for line in fh:
            for item in json.loads(line)["items"]:
                out.append(item_text(clean_text(item["title"]), clean_text(item["summary"])))
    return out


if __name__ == "__main__":
    main()
