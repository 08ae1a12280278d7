"""Score on Ray Data: the same ``score_frame``, on actors that load the model once.

Batches must hold whole feeds. Rather than a ``groupby("feed_id")`` shuffle
(a full sort of the input, and one ``map_groups`` call per feed, which would
embed feed by feed), the input is read by the same streaming readers as the
local engine, as Ray read tasks (one per input file), and each feed is *packed*
into one row whose item columns are lists. Ray may slice and merge blocks as it
likes: a row is never cut, so every batch is whole feeds, and a batch of N rows
is N feeds embedded in one call. Actors unpack, score, and return long rows,
which stream back to the driver and into the same atomic writer as the local
engine. The model folder travels to the actors as bytes, so a cluster's nodes
need the package and the encoder weights installed, not the model folder.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import tempfile
import time
import zlib
from pathlib import Path

import numpy as np
import pandas as pd

from relevance.batch.engine import RunSummary, _Run
from relevance.batch.score import prepare_model, score_frame
from relevance.batch.sinks import FileSink, check_output, output_format
from relevance.extras import require
from relevance.io.formats import get as get_format
from relevance.io.reading import Reading
from relevance.io.schema import (
    GRADE,
    ITEM_EXTRAS,
    LABEL,
    LONG_COLUMNS,
    InputError,
    missing_column,
)
from relevance.io.streams import (
    DEFAULT_FEEDS_PER_CHUNK,
    Source,
    count_feeds,
    iter_blocks,
    rechunk,
    run_starts,
    sources,
)
from relevance.model.scorer import PASSED_THROUGH
from relevance.progress import Progress, ProgressEvent, report

ITEM_COLUMNS = ["item_id", "item_title", "item_summary", LABEL, GRADE, *ITEM_EXTRAS]


def packed_schema():
    import pyarrow as pa

    text = pa.string()
    return pa.schema(
        [
            ("feed_id", text),
            ("article_title", text),
            ("article_body", text),
            ("item_id", pa.list_(text)),
            ("item_title", pa.list_(text)),
            ("item_summary", pa.list_(text)),
            (LABEL, pa.list_(pa.int64())),
            (GRADE, pa.list_(pa.int64())),
            *((n, pa.list_(pa.bool_() if t is bool else text)) for n, t in ITEM_EXTRAS.items()),
        ]
    )


def pack(frame: pd.DataFrame):
    """One Arrow row per feed (item columns as lists), in the frame's feed order."""
    import pyarrow as pa

    starts = run_starts(frame["feed_id"])
    bounds = [*starts[1:], len(frame)]
    columns: dict[str, list] = {c: [] for c in packed_schema().names}
    targets = {
        c: frame[c].astype(object).to_numpy() if c in frame.columns else None
        for c in (LABEL, GRADE)
    }
    extras = {
        c: frame[c].to_numpy(dtype=object) if c in frame.columns else None for c in ITEM_EXTRAS
    }
    for start, end in zip(starts, bounds, strict=True):
        for col in ("feed_id", "article_title", "article_body"):
            columns[col].append(frame[col].iat[start])
        for col in ITEM_COLUMNS[:3]:
            columns[col].append(list(frame[col].iloc[start:end]))
        for col, values in targets.items():
            if values is None:
                columns[col].append([None] * (end - start))
            else:
                columns[col].append([None if pd.isna(v) else int(v) for v in values[start:end]])
        for col, values in extras.items():  # optional item fields, passed through as they are
            part = [None] * (end - start) if values is None else list(values[start:end])
            columns[col].append(part)
    return pa.Table.from_pydict(columns, schema=packed_schema())


def unpack(batch: pd.DataFrame) -> pd.DataFrame:
    """The long-format table of a batch of packed feeds, items in their original order."""
    sizes = np.array([len(v) for v in batch["item_id"]], dtype=np.int64)
    out = {c: np.repeat(batch[c].to_numpy(dtype=object), sizes) for c in LONG_COLUMNS[:3]}
    for col in ITEM_COLUMNS:
        flat = [x for values in batch[col] for x in values]
        out[col] = np.array(flat, dtype=object)
    frame = pd.DataFrame({c: pd.Series(v, dtype=object) for c, v in out.items()})
    targets = {c: frame.pop(c) for c in (LABEL, GRADE)}
    extras = {c: frame.pop(c) for c in ITEM_EXTRAS}
    frame = frame[LONG_COLUMNS]
    for col, values in targets.items():
        if values.notna().any():
            frame[col] = pd.array([None if pd.isna(v) else int(v) for v in values], dtype="Int64")
    for col, values in extras.items():
        if values.notna().any():
            frame[col] = values.astype(object).where(values.notna(), None)
    return frame


def skips_per_file(srcs: list[Source], skip: int) -> list[int]:
    """How many of each file's records a resumed run has done (``skip`` in all, in order)."""
    out = []
    for src in srcs:
        n = 0 if src.problem is not None else get_format(src.fmt).reader().count_records(src)
        out.append(min(skip, n))
        skip -= out[-1]
    return out


def _datasource(srcs: list[Source], feeds_per_block: int, skip: int = 0):
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    skips = skips_per_file(srcs, skip) if skip else [0] * len(srcs)

    class FeedFiles(Datasource):
        """One read task per input file, yielding packed whole feeds."""

        def estimate_inmemory_data_size(self) -> int:
            return sum(s.path.stat().st_size for s in srcs)

        def get_read_tasks(self, parallelism: int, **_: object) -> list:
            tasks = []
            for src, done in zip(srcs, skips, strict=True):

                def read(src: Source = src, done: int = done):
                    blocks = iter_blocks([src], Reading(skip=done))
                    for chunk in rechunk(blocks, feeds_per_block):
                        yield pack(chunk)

                meta = BlockMetadata(
                    num_rows=None,
                    size_bytes=src.path.stat().st_size,
                    exec_stats=None,
                    input_files=(str(src.path),),
                )
                tasks.append(ReadTask(read, meta, schema=packed_schema()))
            return tasks

    return FeedFiles()


def model_files(folder: str | Path) -> dict[str, bytes]:
    """Every file of a model folder, compressed, so actors on any node can rebuild it.

    Compressed, a model folder stays under Ray's limit for arguments passed inline.
    """
    folder = Path(folder)
    return {
        p.relative_to(folder).as_posix(): zlib.compress(p.read_bytes(), 9)
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _make_embedder(factory: str | None):
    """An embedder from ``module:callable`` (e.g. a test double), or None for the model's own."""
    if not factory:
        return None
    module, _, name = factory.partition(":")
    return getattr(importlib.import_module(module), name)()


class FeedScorer:
    """A Ray actor's scorer: loads the model once, then scores batches of packed feeds."""

    def __init__(
        self,
        files: dict[str, bytes],
        backend: str | None,
        cache_dir: str | None,
        use_cache: bool,
        embedder_factory: str | None = None,
        decision: dict | None = None,
    ):
        self.decision = decision or {}
        self._tmp = tempfile.TemporaryDirectory(prefix="relevance-model-")
        root = Path(self._tmp.name)
        for rel, data in files.items():
            (root / rel).parent.mkdir(parents=True, exist_ok=True)
            (root / rel).write_bytes(zlib.decompress(data))
        embedder = _make_embedder(embedder_factory)
        self.model = prepare_model(root, backend, cache_dir, use_cache, embedder=embedder)

    def __call__(self, batch: pd.DataFrame) -> pd.DataFrame:
        scored = score_frame(unpack(batch), self.model, **self.decision)
        for column in PASSED_THROUGH:  # one schema for every block
            if column not in scored.columns:
                scored[column] = missing_column(column, len(scored))
        return scored


def _input_error(exc: BaseException) -> InputError | None:
    """The InputError behind an exception Ray wrapped (a read task's), if there is one."""
    seen: set[int] = set()
    todo: list[BaseException | None] = [exc]
    while todo:
        e = todo.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        if isinstance(e, InputError) and type(e).__module__.startswith("relevance."):
            return e  # not Ray's wrapper, which subclasses the error it carries
        todo += [e.__cause__, e.__context__, getattr(e, "cause", None)]
    return None


#: Restarts of a dead scoring actor, and retries of a batch or a read task it lost.
RETRIES = 3
#: Where a private local Ray listens: this machine's loopback, never its network address.
LOOPBACK = "127.0.0.1"


def start_ray(ray, address: str | None) -> None:
    """Join the cluster at ``address``, or start a private local Ray bound to loopback.

    Without an address Ray would join any cluster it finds on the machine (a running
    ``ray start --head``, even a stale record of one in its temp folder); ``"local"``
    always starts a new one. Ray maps ``127.0.0.1`` to the machine's network address
    unless it believes clusters are off (its macOS/Windows default), so that belief is
    held for the duration of ``ray.init`` only: the node, GCS, raylet and workers then all
    listen on 127.0.0.1. The dashboard stays off.
    """
    common = {"include_dashboard": False, "log_to_driver": False}
    if address is not None:
        ray.init(address=address, logging_level=logging.WARNING, **common)
        return
    from unittest import mock

    from ray._private import ray_constants

    with mock.patch.object(ray_constants, "ENABLE_RAY_CLUSTER", False):
        ray.init(
            address="local",
            _node_ip_address=LOOPBACK,
            num_cpus=2,
            logging_level=logging.WARNING,
            **common,
        )


def score_ray(
    model_dir: str | Path | None,
    inputs: list[str | Path],
    out: str | Path | None = None,
    fmt: str | None = None,
    input_format: str | None = None,
    backend: str | None = None,
    cache_dir: str | Path | None = None,
    use_cache: bool = True,
    feeds_per_chunk: int = DEFAULT_FEEDS_PER_CHUNK,
    address: str | None = None,
    actors: int = 1,
    cpus_per_actor: float = 1.0,
    progress: Progress | None = None,
    embedder_factory: str | None = None,
    level: str | None = None,
    threshold: float | None = None,
    top_k: int | None = None,
    explain: bool = False,
    resume: bool = False,
) -> RunSummary:
    """Score ``inputs`` on Ray and write ``out`` atomically.

    Every block of whole feeds that reaches the driver is committed as the local engine
    commits a chunk (``OUT.progress.json``), so ``resume`` continues an interrupted run,
    started by either engine, from its last commit.

    Without ``address`` a private local Ray is started on 127.0.0.1 and stopped at the
    end (``start_ray``); with one (``HOST:PORT`` or ``auto``) that cluster is joined.

    ``level``, ``threshold`` and ``top_k`` as in ``RelevanceModel.assemble``.
    """
    ray = require("ray", "ray")
    require("ray.data", "ray")
    from relevance.persistence.artifacts import load_scorer

    start = time.perf_counter()
    if out is not None:
        check_output(Path(out))
    srcs = sources(inputs, input_format)
    kind, gz = output_format(out, fmt)
    # Fail here, with the clear message, rather than inside every actor.
    if model_dir is None:
        from relevance.persistence.location import default_model_dir

        model_dir = default_model_dir()
    loaded = load_scorer(
        model_dir, embedder=_make_embedder(embedder_factory), backend=backend, cache=False
    )
    decision = {
        "level": loaded.resolve_level(level),
        "threshold": threshold,
        "top_k": top_k,
        "explain": explain,
    }
    options = {  # as the local engine records them: either engine resumes the other's run
        "format": kind,
        "gzip": gz,
        "feeds_per_chunk": feeds_per_chunk,
        "input_format": input_format,
        "on_error": "error",
        **decision,
    }
    run = _Run.open(loaded, srcs, out, kind, gz, resume, "error", options)
    sink = run.sink
    started = not ray.is_initialized()
    if started:
        start_ray(ray, address)
    try:
        ctx = ray.data.DataContext.get_current()
        ctx.execution_options.preserve_order = True  # output in input order, run after run
        ctx.enable_progress_bars = False  # ours counts feeds, not blocks
        logging.getLogger("ray.data").setLevel(logging.ERROR)
        ds = ray.data.read_datasource(
            _datasource(srcs, feeds_per_chunk, run.skip),
            ray_remote_args={"max_retries": RETRIES},
        )
        ds = ds.map_batches(
            FeedScorer,
            fn_constructor_kwargs={
                "files": model_files(model_dir),
                "backend": backend,
                "cache_dir": None if cache_dir is None else str(cache_dir),
                "use_cache": use_cache,
                "embedder_factory": embedder_factory,
                "decision": decision,
            },
            batch_size=feeds_per_chunk,
            batch_format="pandas",
            concurrency=actors,
            num_cpus=cpus_per_actor,
            # A scoring actor whose process dies (killed, out of memory, a lost node) is
            # restarted and its batch retried: score_frame is deterministic, so the rows
            # are those of an uninterrupted run.
            max_restarts=RETRIES,
            max_task_retries=RETRIES,
        )
        feeds = rows = 0
        total = count_feeds(srcs) if progress else None
        report(progress, ProgressEvent("scoring (ray)", run.skip, total, "feed"))
        seen = run.seen  # each read task sees one file: repeats across files are found here
        pending = None  # the last feed of a block: it may go on in the next block

        def commit(done: pd.DataFrame) -> None:
            nonlocal feeds, rows
            ids = done["feed_id"].to_numpy(dtype=object)
            for s in run_starts(ids):
                if not seen.add(ids[s]):
                    expected = "each feed once in the input (this feed id was seen before)"
                    raise InputError("<input>", "-", "feed_id", ids[s], expected)
            sink.write(done)
            feeds, rows = feeds + len(run_starts(ids)), rows + len(done)
            run.commit(done, run.skip + feeds)
            report(progress, ProgressEvent("scoring (ray)", run.skip + feeds, total, "feed"))

        # Held and closed explicitly: on an error the for-loop's own iterator would live on
        # in the traceback, and its executor would still be streaming at ray.shutdown().
        batches = iter(ds.iter_batches(batch_format="pandas", batch_size=None))
        with contextlib.closing(batches):
            for batch in batches:
                if not len(batch):
                    continue
                if pending is not None:
                    batch = pd.concat([pending, batch], ignore_index=True)
                cut = int(run_starts(batch["feed_id"].to_numpy(dtype=object))[-1])
                pending = batch.iloc[cut:].reset_index(drop=True)
                if cut:
                    commit(batch.iloc[:cut].reset_index(drop=True))
        if pending is not None:
            commit(pending)
        if feeds + run.skip == 0:
            raise InputError(", ".join(map(str, inputs)), "1", "<file>", "", "at least one feed")
        report(
            progress, ProgressEvent("scoring (ray)", run.skip + feeds, total, "feed", finished=True)
        )
        run.finish()
    except KeyboardInterrupt:
        if run.state_file is None:
            raise
        raise run.interrupted() from None
    except Exception as exc:
        bad = _input_error(exc)
        if bad is None:
            raise
        if isinstance(sink, FileSink):
            run.discard()
        if bad is exc:
            raise
        raise bad from None  # the reader's own error, as the local engine raises it
    finally:
        run.close()
        if started:
            ray.shutdown()
    return RunSummary(
        feeds,
        rows,
        0,
        time.perf_counter() - start,
        True,
        skipped_feeds=run.skip,
        feeds_total=int(run.state.get("feeds_done", feeds)),
        rows_total=int(run.state.get("rows_done", rows)),
    )
