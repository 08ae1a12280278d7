"""Batch scoring: one scoring function, and the local streaming engine around it.

``score_frame`` is the only place a table gets scored; the local engine (here)
and the Ray engine (``relevance.ray_engine``) both call it on chunks of whole
feeds. The local engine streams the input chunk by chunk, so memory depends on
the chunk size, not the input size, and commits after each chunk: an
interrupted run continues with ``--resume`` without rescoring anything.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from relevance.cache import CachedEmbedder, cached
from relevance.embed import embed_feeds
from relevance.model import RelevanceModel
from relevance.schema import InputError, check_frame
from relevance.sinks import FileSink, ResumeError, StdoutSink, output_format, partial_path
from relevance.streams import DEFAULT_FEEDS_PER_CHUNK, Source, count_feeds, iter_chunks, sources

STATE_VERSION = 1
#: Vectors kept in memory in front of the on-disk cache while scoring (~30 MB at d=384).
SCORING_LRU = 20_000


def score_frame(frame: pd.DataFrame, model: RelevanceModel) -> pd.DataFrame:
    """Score a table of whole feeds: every distinct text of all its feeds in ONE encode call.

    Rows come back in input order with ``feed_id, item_id, title, probability,
    relevant, rank`` (and ``label`` when the input has it).
    """
    check_frame(frame)
    if not len(frame):
        return model.assemble(frame, pd.Series([], dtype=float).to_numpy())
    emb = embed_feeds(frame, model.get_embedder())
    return model.assemble(frame, model.predict_proba_embedded(frame, emb))


def prepare_model(
    model_dir: str | Path,
    backend: str | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    embedder: object | None = None,
) -> RelevanceModel:
    """Load a model folder for a backend and put the persistent embedding cache in front.

    The encoder itself stays unloaded until a text misses the cache.
    """
    from relevance.artifacts import load_model

    model = load_model(model_dir, embedder=embedder, backend=backend)  # type: ignore[arg-type]
    inner = model.get_embedder()
    if cache_dir is not None and hasattr(inner, "cache_dir"):
        inner.cache_dir = Path(cache_dir)  # the onnx export lives in the cache folder too
    if use_cache:
        model.embedder = cached(inner, cache_dir, in_memory=SCORING_LRU)
    return model


def cache_stats(model: RelevanceModel) -> tuple[int | None, float | None]:
    """(texts actually encoded, cache hit rate), when the model's embedder is cached."""
    emb = model.embedder
    if isinstance(emb, CachedEmbedder):
        return emb.encoded, emb.hit_rate
    return None, None


# -- the resume sidecar ------------------------------------------------------------------


def state_path(out: Path) -> Path:
    return out.with_name(out.name + ".progress.json")


def input_fingerprint(srcs: Iterable[Source]) -> list[dict]:
    """Path, size, mtime and a hash of the first MiB of each input: cheap and strict."""
    out = []
    for src in srcs:
        stat = src.path.stat()
        with open(src.path, "rb") as fh:
            head = hashlib.sha256(fh.read(1 << 20)).hexdigest()
        out.append(
            {
                "path": str(src.path.resolve()),
                "format": src.fmt,
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
                "head_sha256": head,
            }
        )
    return out


def model_key(model: RelevanceModel) -> str:
    """A hash of everything that decides the scores: config, head, threshold, embedder."""
    state = {
        "config": getattr(model, "config_", None),
        "head": model.head_.to_json(),
        "calibrator": model.calibrator_.to_json(),
        "threshold": model.threshold_,
        "embedder": model.get_embedder().fingerprint,
    }
    return hashlib.sha256(json.dumps(state, sort_keys=True, default=str).encode()).hexdigest()


def _write_state(path: Path, state: dict) -> None:
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(state, fh, indent=2, sort_keys=True)
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def _check_state(path: Path, state: dict, expected: dict) -> None:
    if state.get("version") != STATE_VERSION:
        raise ResumeError(f"{path}: written by another version; run without --resume")
    for key, what in (
        ("inputs", "the input files changed (paths, sizes, modification times or content)"),
        ("model", "the model (folder, backend or embedder) is not the one the run started with"),
        ("options", "the options differ (output format, chunk size, input format)"),
    ):
        if state.get(key) != expected[key]:
            raise ResumeError(
                f"{path}: cannot resume: {what}; was {json.dumps(state.get(key))[:300]}, "
                f"now {json.dumps(expected[key])[:300]}. Run without --resume to start over"
            )


# -- the local engine ----------------------------------------------------------------------


@dataclass
class RunSummary:
    """What a run did; ``complete`` is False when it stopped early (``max_chunks``)."""

    feeds: int
    rows: int
    chunks: int
    seconds: float
    complete: bool
    skipped_feeds: int = 0
    encoded: int | None = None
    hit_rate: float | None = None


def _progress(total: int | None, initial: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(
        total=total,
        initial=initial,
        unit="feed",
        desc="scoring",
        file=sys.stderr,
        disable=not enabled,
        dynamic_ncols=True,
        smoothing=0.1,
    )


def score_files(
    model: RelevanceModel,
    inputs: list[str | Path],
    out: str | Path | None = None,
    fmt: str | None = None,
    input_format: str | None = None,
    feeds_per_chunk: int = DEFAULT_FEEDS_PER_CHUNK,
    resume: bool = False,
    progress: bool = True,
    max_chunks: int | None = None,
    run_options: dict | None = None,
) -> RunSummary:
    """Stream ``inputs`` through ``score_frame`` into ``out`` (stdout when None).

    With ``out``, rows go to ``OUT.partial`` and each chunk is committed (fsync,
    then ``OUT.progress.json``); ``OUT`` appears only when everything is scored.
    ``resume`` continues from the last commit after checking that inputs, model
    and options are unchanged. ``max_chunks`` stops early as an interruption would.
    """
    start = time.perf_counter()
    srcs = sources(inputs, input_format)
    kind, gz = output_format(out, fmt)
    if out is None:
        if resume:
            raise ResumeError("--resume needs --out FILE (stdout cannot be continued)")
        sink: FileSink | StdoutSink = StdoutSink(kind)
        state_file, state, skip = None, None, 0
    else:
        out = Path(out)
        state_file = state_path(out)
        state = {
            "version": STATE_VERSION,
            "inputs": input_fingerprint(srcs),
            "model": model_key(model),
            "options": {
                "format": kind,
                "gzip": gz,
                "feeds_per_chunk": feeds_per_chunk,
                "input_format": input_format,
                **(run_options or {}),
            },
        }
        previous = _load_state(state_file) if resume else None
        if previous is not None:
            _check_state(state_file, previous, state)
            skip = int(previous["feeds_done"])
            sink = FileSink(out, kind, gz, previous["columns"], int(previous["position"]))
            state.update({k: previous[k] for k in ("feeds_done", "rows_done", "chunks_done")})
        else:
            if resume:
                print(f"relevance score: nothing to resume at {out}; starting", file=sys.stderr)
            elif state_file.exists() or partial_path(out).exists():
                print(
                    f"relevance score: replacing an unfinished run of {out} "
                    "(--resume would have continued it)",
                    file=sys.stderr,
                )
            state_file.unlink(missing_ok=True)
            skip = 0
            sink = FileSink(out, kind, gz)
            state.update({"feeds_done": 0, "rows_done": 0, "chunks_done": 0})
    total = count_feeds(srcs) if progress else None
    feeds = rows = chunks = 0
    bar = _progress(total, skip, progress)
    try:
        for chunk in iter_chunks(srcs, feeds_per_chunk, skip_feeds=skip):
            if max_chunks is not None and chunks >= max_chunks:
                return _summary(model, feeds, rows, chunks, start, False, skip)
            scored = score_frame(chunk, model)
            sink.write(scored)
            position = sink.commit()
            n_feeds = int(chunk["feed_id"].nunique())
            feeds, rows, chunks = feeds + n_feeds, rows + len(chunk), chunks + 1
            if state_file is not None and state is not None:
                state["feeds_done"] += n_feeds
                state["rows_done"] += len(chunk)
                state["chunks_done"] += 1
                state["position"] = position
                state["columns"] = sink.columns
                _write_state(state_file, state)
            _show(bar, model, n_feeds, rows, start)
        if feeds + skip == 0:
            raise InputError(", ".join(map(str, inputs)), "1", "<file>", "", "at least one feed")
        sink.finish()
        if state_file is not None:
            state_file.unlink(missing_ok=True)
    except KeyboardInterrupt:
        if state_file is not None:
            print(
                f"\nrelevance score: interrupted; {skip + feeds} feeds are committed, "
                "the same command with --resume continues",
                file=sys.stderr,
            )
        raise
    finally:
        sink.close()
        bar.close()
    return _summary(model, feeds, rows, chunks, start, True, skip)


def _load_state(path: Path) -> dict | None:
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise ResumeError(f"{path}: unreadable ({exc}); run without --resume") from None


def _show(bar, model: RelevanceModel, n_feeds: int, rows: int, start: float) -> None:
    if bar.disable:
        return
    elapsed = max(time.perf_counter() - start, 1e-9)
    post = {"items/s": f"{rows / elapsed:.0f}"}
    _, rate = cache_stats(model)
    if rate is not None:
        post["cache hits"] = f"{rate:.0%}"
    bar.set_postfix(post, refresh=False)
    bar.update(n_feeds)


def _summary(
    model: RelevanceModel, feeds: int, rows: int, chunks: int, start: float, done: bool, skip: int
) -> RunSummary:
    encoded, rate = cache_stats(model)
    return RunSummary(
        feeds=feeds,
        rows=rows,
        chunks=chunks,
        seconds=time.perf_counter() - start,
        complete=done,
        skipped_feeds=skip,
        encoded=encoded,
        hit_rate=rate,
    )
