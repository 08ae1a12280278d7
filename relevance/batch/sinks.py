"""Append scored chunks to an output that only appears, whole, when the run is done.

Rows go to ``OUT.partial`` (a folder of part files for Parquet); ``commit`` makes
everything written so far durable and returns the position to resume from, and
``finish`` renames the result to ``OUT``. A crash leaves ``OUT`` untouched and a
partial output that ``--resume`` truncates to its last commit. Gzip output is
one gzip member per chunk, so every commit point is a valid end of file.
"""

from __future__ import annotations

import gzip
import io
import json
import logging
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from json.encoder import encode_basestring
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pandas as pd

from relevance.batch.outputs import OutputError, ResumeError, format_for, render_table
from relevance.io.schema import GRADE, ITEM_EXTRAS, LABEL, missing_column
from relevance.model.explain import EXPLAIN_COLUMNS
from relevance.model.scorer import PASSED_THROUGH, SCORE_COLUMNS

log = logging.getLogger("relevance.batch")


def output_format(out: str | Path | None, fmt: str | None) -> tuple[str, bool]:
    """(format, gzip): ``--format`` wins, else the suffix of ``--out`` (``.gz`` compresses)."""
    kind = format_for(out, fmt)
    gz = out is not None and str(out).lower().endswith(".gz") and kind in ("jsonl", "csv")
    return kind, gz


def partial_path(out: Path) -> Path:
    return out.with_name(out.name + ".partial")


def check_output(out: Path) -> None:
    """Fail at once, before any work, when ``out`` cannot be written.

    Creating and removing a file beside it is the only reliable test (permissions,
    read-only mounts, a full quota all show up here rather than after an hour).
    """
    if out.is_dir():
        raise OutputError(f"--output {out}: is a folder; expected the path of a file to write")
    parent = out.parent
    try:
        parent.mkdir(parents=True, exist_ok=True)
        probe = parent / f".{out.name}.{os.getpid()}.probe"
        with open(probe, "wb") as fh:
            fh.write(b"probe")
        probe.unlink()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise OutputError(f"--output {out}: cannot write in {parent}: {reason}") from None


def conform(scored: pd.DataFrame, columns: list[str], warn: list[bool]) -> pd.DataFrame:
    """Fit a chunk to the output's fixed columns (labels may be absent from some feeds)."""
    for column in PASSED_THROUGH:
        if column in columns and column not in scored.columns:
            scored = scored.assign(**{column: missing_column(column, len(scored))})
        late = column in scored.columns and column not in columns
        if late and scored[column].notna().any() and not warn[0]:
            warn[0] = True
            log.warning(
                "warning: %ss appear after the first chunk, which had none; "
                "they are not passed through to this output",
                column,
            )
    return scored[columns]


def output_columns(scored: pd.DataFrame) -> list[str]:
    """The output's columns, fixed by its first chunk: the passed-through ones it has."""
    passed = [c for c in PASSED_THROUGH if c in scored.columns and scored[c].notna().any()]
    why = [c for c in EXPLAIN_COLUMNS if c in scored.columns]
    return [*SCORE_COLUMNS, *passed, *why]


_JSON = json.JSONEncoder(ensure_ascii=False)
_FLOAT_SPECIAL = {"nan": "NaN", "inf": "Infinity", "-inf": "-Infinity"}


def _json_float(value: Any) -> str:
    """``float(value)`` as json.dumps writes it (repr, or NaN/Infinity)."""
    text = repr(float(value))
    return _FLOAT_SPECIAL.get(text, text)


def _json_any(value: object) -> str:
    """Text columns: strings escaped directly, anything else as json.dumps would."""
    return encode_basestring(value) if type(value) is str else _JSON.encode(value)


def _json_level(value: Any) -> str:
    """A level probability; null for a level the model does not have (a story-only model)."""
    return "null" if value is None or value != value else repr(float(value))


def _json_label(value: Any) -> str | None:
    """None for a missing label, which the row then leaves out."""
    if value is None or value is pd.NA or value != value:
        return None
    return repr(int(value))


def _json_optional(value: Any) -> str | None:
    """An optional item field (module, href, self_link); None when missing, left out."""
    if value is None or value is pd.NA or value != value:
        return None
    if isinstance(value, bool | np.bool_):
        return "true" if value else "false"
    return encode_basestring(str(value))


_CONVERT = {
    "probability": _json_float,
    "relevant": lambda value: "true" if value else "false",
    "rank": lambda value: repr(int(value)),
    "p_story": _json_level,
    "p_topic": _json_level,
    LABEL: _json_label,
    GRADE: _json_label,
    **{name: _json_optional for name in ITEM_EXTRAS},
}


def encode_jsonl(scored: pd.DataFrame) -> bytes:
    """One JSON object per row; a missing label is left out rather than written as null.

    The same bytes as json.dumps(row, ensure_ascii=False). Each distinct id, title, rank,
    flag or label is encoded once (dictionary-encoded), and the rows are assembled by
    pyarrow, not by a string operation per row in Python.
    """
    import pyarrow as pa
    import pyarrow.compute as pc

    if not len(scored):
        return b""
    fields = []
    for name in scored.columns:
        convert = _CONVERT.get(name, _json_any)
        key = encode_basestring(name) + ": "
        values = scored[name].to_numpy(dtype=object)
        if name in ("probability", "p_story", "p_topic"):  # distinct per row; -0.0 == 0.0
            fields.append(pa.array([key + convert(v) for v in values], pa.large_string()))
            continue
        codes, uniques = pd.factorize(values, use_na_sentinel=False)
        encoded = [None if (text := convert(v)) is None else key + text for v in uniques]
        fields.append(pa.array(encoded, pa.large_string()).take(pa.array(codes)))
    text = pa.large_string()
    body = pc.binary_join_element_wise(*fields, pa.scalar(", ", text), null_handling="skip")
    lines = pc.binary_join_element_wise(
        pa.scalar("{", text), body, pa.scalar("}\n", text), pa.scalar("", text)
    )
    offsets, data = lines.buffers()[1], lines.buffers()[2]
    ends = np.frombuffer(offsets, dtype=np.int64)[lines.offset : lines.offset + len(lines) + 1]
    return data.to_pybytes()[int(ends[0]) : int(ends[-1])]


def encode_text(scored: pd.DataFrame, fmt: str, header: bool) -> bytes:
    if fmt == "jsonl":
        return encode_jsonl(scored)
    if fmt == "csv":
        return scored.to_csv(index=False, header=header, lineterminator="\n").encode("utf-8")
    return render_table(scored).encode("utf-8")


def arrow_schema(columns: list[str]):
    import pyarrow as pa

    types = {
        "feed_id": pa.string(),
        "item_id": pa.string(),
        "title": pa.string(),
        "probability": pa.float64(),
        "p_story": pa.float64(),
        "p_topic": pa.float64(),
        "relevant": pa.bool_(),
        "rank": pa.int64(),
        LABEL: pa.int64(),
        GRADE: pa.int64(),
        **{n: pa.bool_() if t is bool else pa.string() for n, t in ITEM_EXTRAS.items()},
        **{c: pa.string() for c in EXPLAIN_COLUMNS},
    }
    return pa.schema([(c, types[c]) for c in columns])


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class FileSink:
    """Scored chunks appended to ``OUT.partial``, renamed to ``OUT`` by ``finish``."""

    def __init__(
        self,
        out: Path,
        fmt: str,
        gz: bool = False,
        columns: list[str] | None = None,
        position: int | None = None,
    ):
        self.out, self.fmt, self.gz = Path(out), fmt, gz
        self.partial = partial_path(self.out)
        self.columns = columns
        self._warned = [False]
        self._fh: BinaryIO | None = None
        with self._oserrors():
            self.out.parent.mkdir(parents=True, exist_ok=True)
            if fmt == "parquet":
                self._open_parts(position)
            else:
                self._fh = self._open_bytes(position)

    # -- opening ---------------------------------------------------------------------

    def _open_bytes(self, position: int | None) -> BinaryIO:
        if position is None:  # a fresh run replaces any earlier partial output
            self._clear()
            return open(self.partial, "wb")  # noqa: SIM115 - kept open across chunks
        if not self.partial.is_file():
            raise ResumeError(f"{self.partial}: missing; cannot resume, run without --resume")
        size = self.partial.stat().st_size
        if size < position:
            raise ResumeError(
                f"{self.partial}: {size} bytes, fewer than the {position} committed; "
                "the partial output was changed, run without --resume"
            )
        fh = open(self.partial, "r+b")  # noqa: SIM115 - kept open across chunks
        fh.truncate(position)  # drop whatever was written after the last commit
        fh.seek(position)
        return fh

    def _open_parts(self, position: int | None) -> None:
        if position is None:
            self._clear()
            self.partial.mkdir(parents=True)
            self.parts = 0
            return
        if not self.partial.is_dir():
            raise ResumeError(f"{self.partial}: missing; cannot resume, run without --resume")
        for i in range(position):
            if not self._part(i).is_file():
                raise ResumeError(f"{self._part(i)}: missing; run without --resume")
        for path in self.partial.iterdir():  # parts after the last commit, temp files
            if path.name not in {self._part(i).name for i in range(position)}:
                path.unlink()
        self.parts = position

    def _clear(self) -> None:
        if self.partial.is_dir():
            shutil.rmtree(self.partial)
        elif self.partial.exists():
            self.partial.unlink()

    def _part(self, i: int) -> Path:
        return self.partial / f"part-{i:06d}.parquet"

    # -- writing ---------------------------------------------------------------------

    def write(self, scored: pd.DataFrame) -> None:
        if self.columns is None:
            self.columns = output_columns(scored)
        scored = conform(scored, self.columns, self._warned)
        with self._oserrors():
            if self.fmt == "parquet":
                self._write_part(scored)
                return
            assert self._fh is not None
            data = encode_text(scored, self.fmt, header=self._fh.tell() == 0)
            if self.gz:
                data = gzip.compress(data, mtime=0)  # mtime 0: the same rows, the same bytes
            self._fh.write(data)

    @contextmanager
    def _oserrors(self) -> Iterator[None]:
        """A disk that fills up or goes away mid-run: a clear error, the partial kept."""
        try:
            yield
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise OutputError(
                f"{self.partial}: cannot write: {reason}; what was committed is kept, "
                "--resume continues once there is room"
            ) from None

    def _write_part(self, scored: pd.DataFrame) -> None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        assert self.columns is not None
        schema = arrow_schema(self.columns)
        table = pa.Table.from_pandas(scored, schema=schema, preserve_index=False)
        tmp = self.partial / f".part-{self.parts:06d}.tmp"
        pq.write_table(table, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self._part(self.parts))
        self.parts += 1

    def commit(self) -> int:
        """Make everything written durable; the position ``--resume`` restarts from."""
        with self._oserrors():
            return self._commit()

    def _commit(self) -> int:
        if self.fmt == "parquet":
            _fsync_dir(self.partial)
            return self.parts
        assert self._fh is not None
        self._fh.flush()
        os.fsync(self._fh.fileno())
        return self._fh.tell()

    def finish(self) -> None:
        """Rename the complete output into place (Parquet parts become row groups)."""
        with self._oserrors():
            self._finish()

    def _finish(self) -> None:
        if self.fmt != "parquet":
            assert self._fh is not None
            if self._fh.tell() == 0 and self.fmt == "csv":  # no rows at all: still a header
                columns = self.columns or list(SCORE_COLUMNS)
                self._fh.write(",".join(columns).encode() + b"\n")
            self._commit()
            self._fh.close()
            os.replace(self.partial, self.out)
        else:
            self._combine_parts()
        _fsync_dir(self.out.parent)

    def _combine_parts(self) -> None:
        import pyarrow.parquet as pq

        schema = arrow_schema(self.columns or list(SCORE_COLUMNS))
        tmp = self.partial / ".combined.tmp"
        with pq.ParquetWriter(tmp, schema) as writer:
            for i in range(self.parts):  # one part in memory at a time
                writer.write_table(pq.read_table(self._part(i), schema=schema))
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(tmp, self.out)
        shutil.rmtree(self.partial)

    def close(self) -> None:
        """Leave the partial output as it is (for ``--resume``)."""
        if self._fh is not None and not self._fh.closed:
            self._fh.close()

    def discard(self) -> None:
        """Remove the partial output of a run that cannot be resumed; OUT stays as it was."""
        self.close()
        self._clear()


class StdoutSink:
    """Rows to stdout: machine formats chunk by chunk, the people's table once at the end.

    The table is written by ``finish``, after the scoring run has reported that it is
    done, so on a terminal it never shares a line with the progress bar.
    """

    def __init__(self, fmt: str, caption: str | None = None):
        if fmt == "parquet":
            raise OutputError("--format parquet needs --out FILE")
        self.fmt, self.caption = fmt, caption
        self.columns: list[str] | None = None
        self._warned = [False]
        self._first = True
        self._table: list[pd.DataFrame] = []

    def write(self, scored: pd.DataFrame) -> None:
        if self.columns is None:
            self.columns = output_columns(scored)
        scored = conform(scored, self.columns, self._warned)
        if self.fmt == "table":
            self._table.append(scored)
            return
        self._emit(encode_text(scored, self.fmt, header=self._first))
        self._first = False

    def _emit(self, data: bytes) -> None:
        out = getattr(sys.stdout, "buffer", None)
        if out is not None:
            sys.stdout.flush()
            out.write(data)
            out.flush()
        else:  # a replaced stdout (tests) may be text only
            sys.stdout.write(data.decode("utf-8"))

    def commit(self) -> int:
        return 0

    def finish(self) -> None:
        if self.fmt == "table":
            whole = pd.concat(self._table, ignore_index=True) if self._table else None
            if whole is not None:
                self._emit(render_table(whole, self.caption).encode("utf-8"))
            self._table = []
        sys.stdout.flush()

    def close(self) -> None:
        pass


def read_scores(path: str | Path) -> pd.DataFrame:
    """Read an output back (tests, benchmarks): JSONL (gzip too), CSV or Parquet."""
    path = Path(path)
    name = path.name.lower()
    if name.endswith(".parquet"):
        return pd.read_parquet(path)
    if ".csv" in name:
        return pd.read_csv(path, dtype={"feed_id": str, "item_id": str, "title": str})
    opener = gzip.open if name.endswith(".gz") else open
    with opener(path, "rb") as fh:
        text = fh.read().decode("utf-8")
    return pd.read_json(io.StringIO(text), lines=True, dtype={"feed_id": str, "item_id": str})


__all__ = [
    "FileSink",
    "OutputError",
    "ResumeError",
    "StdoutSink",
    "arrow_schema",
    "check_output",
    "output_format",
    "partial_path",
    "read_scores",
]
