"""The local engine: stream the input through ``score_frame`` into an atomic, resumable output.

The input is read chunk by chunk, so memory depends on the chunk size, not the input
size, and each chunk is committed: an interrupted run continues with ``--resume``
without rescoring anything.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path

import pandas as pd

from relevance.batch.rejects import RejectsSink, rejects_path
from relevance.batch.score import cache_stats, score_frame
from relevance.batch.sinks import (
    FileSink,
    OutputError,
    ResumeError,
    StdoutSink,
    check_output,
    output_format,
    partial_path,
)
from relevance.batch.state import (
    STATE_VERSION,
    check_state,
    ids_path,
    input_fingerprint,
    load_state,
    model_key,
    state_path,
    write_state,
)
from relevance.io.page import PageParseError
from relevance.io.rejects import ON_ERROR, Rejects, SeenIds
from relevance.io.schema import InputError
from relevance.io.streams import (
    DEFAULT_FEEDS_PER_CHUNK,
    Reading,
    Source,
    count_feeds,
    sources,
    unit_chunks,
)
from relevance.model.scorer import Scoring
from relevance.progress import Progress, ProgressEvent, report

log = logging.getLogger("relevance.batch")

# -- the local engine ----------------------------------------------------------------------


@dataclass
class RunSummary:
    """What a run did; ``complete`` is False when it stopped early (``max_chunks``)."""

    feeds: int
    rows: int
    chunks: int
    seconds: float
    complete: bool
    skipped_feeds: int = 0  # input records (units) already done before a --resume
    encoded: int | None = None
    hit_rate: float | None = None
    rejected: dict[str, int] | None = None  # --on-error skip: rejects by level, whole run
    rejects_file: Path | None = None
    feeds_total: int = 0  # feeds and rows written by the whole run, a resumed one included
    rows_total: int = 0


def score_files(
    model: Scoring,
    inputs: list[str | Path],
    out: str | Path | None = None,
    fmt: str | None = None,
    input_format: str | None = None,
    feeds_per_chunk: int = DEFAULT_FEEDS_PER_CHUNK,
    resume: bool = False,
    progress: Progress | None = None,
    max_chunks: int | None = None,
    run_options: dict | None = None,
    on_error: str = "error",
    level: str | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    explain: bool = False,
) -> RunSummary:
    """Stream ``inputs`` through ``score_frame`` into ``out`` (stdout when None).

    ``level`` (default: the model's), ``threshold`` and ``top_k`` decide what is kept,
    as in ``RelevanceModel.assemble``.

    With ``out``, rows go to ``OUT.partial`` and each chunk is committed (fsync,
    then ``OUT.progress.json``); ``OUT`` appears only when everything is scored.
    ``resume`` continues from the last commit after checking that inputs, model
    and options are unchanged. ``max_chunks`` stops early as an interruption would.
    ``on_error="skip"`` sets bad records aside in ``OUT.rejects.jsonl`` instead of
    stopping at the first one.
    """
    start = time.perf_counter()
    if on_error not in ON_ERROR:
        raise ValueError(f"on_error {on_error!r}, expected one of {ON_ERROR}")
    if on_error == "skip" and out is None:
        raise OutputError("--on-error skip needs --out FILE (rejects go to FILE.rejects.jsonl)")
    if out is not None:
        check_output(Path(out))
    srcs = sources(inputs, input_format, on_error)
    kind, gz = output_format(out, fmt)
    options = {
        "format": kind,
        "gzip": gz,
        "feeds_per_chunk": feeds_per_chunk,
        "input_format": input_format,
        "on_error": on_error,
        "level": model.resolve_level(level),  # an unknown level fails before any reading
        "threshold": threshold,
        "top_k": top_k,
        "explain": explain,
        **(run_options or {}),
    }
    total = count_feeds(srcs) if progress else None  # reads every input once: fails early
    run = _Run.open(model, srcs, out, kind, gz, resume, on_error, options)
    feeds = rows = chunks = 0
    report(progress, ProgressEvent("scoring", run.skip, total, "feed"))
    reading = Reading(run.rejects, skip=run.skip, seen=run.seen)
    try:
        for chunk, units in unit_chunks(srcs, feeds_per_chunk, reading):
            if max_chunks is not None and chunks >= max_chunks:
                return _summary(model, feeds, rows, chunks, start, False, run)
            scored = score_frame(chunk, model, level, threshold, top_k, explain)
            run.sink.write(scored)
            n_feeds = int(chunk["feed_id"].nunique())
            feeds, rows, chunks = feeds + n_feeds, rows + len(chunk), chunks + 1
            run.commit(chunk, units)
            report(progress, _event(model, units, total, rows, start))
        if feeds + run.skip == 0 and on_error == "error":
            raise InputError(", ".join(map(str, inputs)), "1", "<file>", "", "at least one feed")
        # records after the last good feed (all rejected) count as done too; said before the
        # output is finished, so a bar is closed before a table appears on the same terminal
        done = replace(_event(model, reading.units, total, rows, start), finished=True)
        report(progress, done)
        run.finish()
    except (InputError, PageParseError):
        run.discard()  # fixing the input changes it: nothing here could be resumed
        raise
    except KeyboardInterrupt:
        if run.state_file is None:
            raise
        raise run.interrupted() from None
    finally:
        run.close()
    return _summary(model, feeds, rows, chunks, start, True, run)


def caption(model: Scoring, level: str, threshold: float | None) -> str:
    """The line above a table: which model, which level, and the threshold that decided."""
    cut = model.thresholds_[level] if threshold is None else threshold
    how = "trained" if threshold is None else "given"
    name = getattr(model, "identity_", {}).get("id", "(in memory)")
    return f"model {name}; level {level}; threshold {cut:.3f} ({how})"


class _Run:
    """The output side of a run: sink, rejects, the seen feed ids, the resume sidecar."""

    def __init__(self) -> None:
        self.sink: FileSink | StdoutSink
        self.rejects = Rejects()
        self.rejects_sink: RejectsSink | None = None
        self.seen = SeenIds()
        self.state_file: Path | None = None
        self.state: dict = {}
        self.ids_fh = None
        self.out: Path | None = None
        self.skip = 0
        self.units_done = 0

    @classmethod
    def open(
        cls,
        model: Scoring,
        srcs: list[Source],
        out: str | Path | None,
        kind: str,
        gz: bool,
        resume: bool,
        on_error: str,
        options: dict,
    ) -> _Run:
        run = cls()
        if out is None:
            if resume:
                raise ResumeError("--resume needs --out FILE (stdout cannot be continued)")
            run.sink = StdoutSink(kind, caption(model, options["level"], options["threshold"]))
            return run
        run.out = out = Path(out)
        run.state_file = state_path(out)
        run.state = {
            "version": STATE_VERSION,
            "inputs": input_fingerprint(srcs),
            "model": model_key(model),
            "options": options,
        }
        previous = load_state(run.state_file) if resume else None
        if previous is not None:
            check_state(run.state_file, previous, run.state)
            run.skip = run.units_done = int(previous["units_done"])
            run.sink = FileSink(out, kind, gz, previous["columns"], int(previous["position"]))
            if on_error == "skip":
                run.rejects_sink = RejectsSink(
                    rejects_path(out), int(previous["rejects_position"]), previous["rejected"]
                )
            run.seen = SeenIds(_open_ids(run, int(previous["ids_bytes"])))
            keep = ("feeds_done", "rows_done", "chunks_done", "units_done", "ids_bytes")
            run.state.update({k: previous[k] for k in keep})
        else:
            if resume:
                log.warning("nothing to resume at %s; starting", out)
            elif run.state_file.exists() or partial_path(out).exists():
                log.warning(
                    "replacing an unfinished run of %s (--resume would have continued it)", out
                )
            run.state_file.unlink(missing_ok=True)
            run.sink = FileSink(out, kind, gz)
            if on_error == "skip":
                run.rejects_sink = RejectsSink(rejects_path(out))
            _open_ids(run, None)
            run.state.update(
                {"feeds_done": 0, "rows_done": 0, "chunks_done": 0, "units_done": 0, "ids_bytes": 0}
            )
        run.rejects = Rejects(on_error, run.rejects_sink)
        return run

    def commit(self, chunk: pd.DataFrame, units: int) -> None:
        """Make the chunk durable, then record how far the run is (the order matters)."""
        position = self.sink.commit()
        self.units_done = units
        if self.state_file is None:
            return
        state = self.state
        if self.rejects_sink is not None:
            state["rejects_position"] = self.rejects_sink.commit(units)
            state["rejected"] = dict(self.rejects_sink.counts)
        ids = list(dict.fromkeys(chunk["feed_id"]))
        try:
            self.ids_fh.write(SeenIds.pack(ids))  # type: ignore[union-attr]
            self.ids_fh.flush()  # type: ignore[union-attr]
            os.fsync(self.ids_fh.fileno())  # type: ignore[union-attr]
        except OSError as exc:
            raise OutputError(f"{ids_path(self.out)}: cannot write ({exc})") from None  # type: ignore[arg-type]
        state["feeds_done"] += len(ids)
        state["rows_done"] += len(chunk)
        state["chunks_done"] += 1
        state["units_done"] = units
        state["ids_bytes"] = self.ids_fh.tell()  # type: ignore[union-attr]
        state["position"] = position
        state["columns"] = self.sink.columns
        write_state(self.state_file, state)

    def finish(self) -> None:
        """Rejects first, then OUT: OUT appearing means the run is complete."""
        if self.rejects_sink is not None:
            self.rejects_sink.finish()
        elif self.out is not None:
            rejects_path(self.out).unlink(missing_ok=True)  # described an earlier OUT
        self.sink.finish()
        if self.state_file is not None and self.out is not None:
            self.state_file.unlink(missing_ok=True)
            if self.ids_fh is not None:
                self.ids_fh.close()
            ids_path(self.out).unlink(missing_ok=True)

    def interrupted(self) -> KeyboardInterrupt:
        """What an interruption says: how far the run is committed, and how to go on."""
        return KeyboardInterrupt(
            f"{self.units_done} input records are committed, "
            "the same command with --resume continues"
        )

    def discard(self) -> None:
        """Remove the partial files of a run that cannot be resumed; OUT stays as it was."""
        self.close()
        if self.out is None:
            return
        self.sink.discard()  # type: ignore[union-attr]
        for path in (self.state_file, ids_path(self.out)):
            path.unlink(missing_ok=True)  # type: ignore[union-attr]
        if self.rejects_sink is not None:
            self.rejects_sink.partial.unlink(missing_ok=True)

    def close(self) -> None:
        """Leave partial files as they are (for ``--resume``)."""
        self.sink.close()
        if self.rejects_sink is not None:
            self.rejects_sink.close()
        if self.ids_fh is not None and not self.ids_fh.closed:
            self.ids_fh.close()


def _open_ids(run: _Run, length: int | None) -> bytes:
    """Open the committed feed-id digests for appending; their bytes, cut to ``length``."""
    path = ids_path(run.out)  # type: ignore[arg-type]
    try:
        if length is None:
            run.ids_fh = open(path, "wb")  # noqa: SIM115 - kept open across chunks
            return b""
        if not path.is_file() or path.stat().st_size < length:
            raise ResumeError(f"{path}: missing or cut short; cannot resume, run without --resume")
        run.ids_fh = open(path, "r+b")  # noqa: SIM115 - kept open across chunks
        data = run.ids_fh.read(length)
        run.ids_fh.truncate(length)
        run.ids_fh.seek(length)
        return data
    except OSError as exc:
        raise OutputError(f"{path}: cannot write ({exc})") from None


def _event(model: Scoring, units: int, total: int | None, rows: int, start: float):
    """A progress event: records done (of the total), items/s, cache hit rate."""
    elapsed = max(time.perf_counter() - start, 1e-9)
    info = {"items/s": f"{rows / elapsed:.0f}"}
    _, rate = cache_stats(model)
    if rate is not None:
        info["cache hits"] = f"{rate:.0%}"
    return ProgressEvent("scoring", units, total, "feed", info)


def _summary(
    model: Scoring, feeds: int, rows: int, chunks: int, start: float, done: bool, run: _Run
) -> RunSummary:
    encoded, rate = cache_stats(model)
    sink = run.rejects_sink
    return RunSummary(
        feeds=feeds,
        rows=rows,
        chunks=chunks,
        seconds=time.perf_counter() - start,
        complete=done,
        skipped_feeds=run.skip,
        encoded=encoded,
        hit_rate=rate,
        rejected=run.rejects.totals() if run.rejects.skip else None,
        rejects_file=sink.path if sink is not None else None,
        feeds_total=int(run.state.get("feeds_done", feeds)),
        rows_total=int(run.state.get("rows_done", rows)),
    )
