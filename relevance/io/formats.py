"""The registry of input formats: name -> file suffixes and the module that reads it.

A reader module defines ``read_blocks(src, reading, block_rows)``, yielding long-format
tables of whole, validated feeds (each row with its ``_unit``), and
``count_records(src)``, the records a progress bar will count; it may define
``inspect(path, fmt)``, a whole-file problem found before the run (columns, encoding).
To add a format write such a module and ``register`` it; text pages and HTML pages share
one (``relevance.io.pages``), which picks the parser by the format's name.
Kept free of heavy imports: the CLI reads ``names()`` for ``--help``.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from relevance.io.errors import InputError


@dataclass(frozen=True)
class Format:
    name: str
    suffixes: tuple[str, ...]  # lower-case, longest first where they overlap
    module: str  # the reader module, imported on first use

    def reader(self) -> ModuleType:
        return importlib.import_module(self.module)


_REGISTRY: dict[str, Format] = {}
#: The formats that are pages (one feed per file, parsed by ``relevance.io.pages``).
PAGE_FORMATS = ("page", "html")


def register(fmt: Format) -> None:
    """Add (or replace) a format; its suffixes are matched against file names."""
    _REGISTRY[fmt.name] = fmt


register(Format("page", (".txt",), "relevance.io.pages"))
register(Format("html", (".html", ".htm", ".xhtml"), "relevance.io.pages"))
register(Format("jsonl", (".jsonl.gz", ".jsonl", ".ndjson"), "relevance.io.jsonl"))
register(Format("csv", (".csv.gz", ".csv"), "relevance.io.table_feeds"))
register(Format("parquet", (".parquet",), "relevance.io.table_feeds"))


def names() -> tuple[str, ...]:
    return tuple(_REGISTRY)


def get(name: str, source: str = "-") -> Format:
    fmt = _REGISTRY.get(name)
    if fmt is None:
        raise InputError(source, "-", "--input-format", name, f"one of {names()}")
    return fmt


def detect_format(path: str | Path) -> str:
    """A format from the file name; for other names the content decides (JSONL, HTML, page).

    A ``.txt`` file whose text starts with ``{`` is JSONL, and one that starts with HTML
    markup is HTML: scrapers and exports use ``.txt`` for all three.
    """
    from relevance.io.page import looks_like_html, looks_like_page

    name = Path(path).name.lower()
    by_suffix = next(
        (f.name for f in _REGISTRY.values() for s in f.suffixes if name.endswith(s)), None
    )
    if by_suffix not in (None, "page"):
        return by_suffix
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096).decode("utf-8", errors="replace")
    except OSError as exc:
        raise InputError(str(path), "0", "<file>", str(path), f"a readable file ({exc})") from None
    if head.lstrip("\ufeff \t\r\n").startswith("{"):
        return "jsonl"
    if looks_like_html(head):
        return "html"
    if looks_like_page(head) or head.strip():
        return "page"
    raise InputError(str(path), "1", "<file>", "", "a non-empty page or feeds file")
