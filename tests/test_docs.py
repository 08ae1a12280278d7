"""The documentation works verbatim: README's code runs, docs/cli.md is the parser's own help."""

from __future__ import annotations

import re
import shlex
import zipfile

import pytest
from conftest import ROOT

README = (ROOT / "README.md").read_text(encoding="utf-8")
#: Set-up lines are exercised elsewhere: `make test` is what CI runs, `pip install .` is the
#: wheel test below (and the closing note's fresh-venv check). Everything else runs here.
SET_UP = ("make ", "pip ")


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README, flags=re.S)


def commands() -> list[str]:
    out = []
    for block in blocks("bash"):
        for line in block.splitlines():
            line = line.split("  #")[0].strip()
            if line and not line.startswith(SET_UP):
                out.append(line)
    return out


def test_readme_is_short_and_has_the_blocks_it_promises():
    assert len(README.splitlines()) <= 260
    assert blocks("python") and commands()
    for page in re.findall(r"\]\((docs/[^)#]+)", README):
        assert (ROOT / page).is_file(), page


@pytest.mark.slow
def test_readme_python_blocks_run(monkeypatch):
    monkeypatch.chdir(ROOT)
    namespace: dict = {}
    for code in blocks("python"):
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - our own README


@pytest.mark.slow
@pytest.mark.parametrize("command", commands())
def test_readme_commands_run(command, tmp_path, monkeypatch):
    from relevance.cli import main

    monkeypatch.chdir(ROOT)
    argv = shlex.split(command)
    assert argv[0] == "relevance"
    argv = [a.replace("build/", f"{tmp_path}/") for a in argv[1:]]  # outputs go to tmp
    if "feeds.jsonl.gz" in argv:  # README's placeholder for the user's own file
        import gzip

        src = (ROOT / "data" / "dev_graded.jsonl").read_text().splitlines()[:5]
        path = tmp_path / "feeds.jsonl.gz"
        path.write_bytes(gzip.compress(("\n".join(src) + "\n").encode()))
        argv = [str(path) if a == "feeds.jsonl.gz" else a for a in argv]
        argv = [str(tmp_path / a) if a.endswith(".parquet") else a for a in argv]
    assert main(argv) == 0


def test_cli_reference_is_the_parsers_help():
    from relevance.cli.reference import render

    assert (ROOT / "docs" / "cli.md").read_text(encoding="utf-8") == render(), (
        "docs/cli.md is stale: python -m relevance.cli.reference > docs/cli.md"
    )


@pytest.mark.slow
def test_the_wheel_carries_the_default_model_and_only_relevance(tmp_path):
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (wheel,) = tmp_path.glob("relevance-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {n.split("/")[0] for n in names}
    assert tops == {"relevance", f"{wheel.name.split('-')[0]}-{wheel.name.split('-')[1]}.dist-info"}
    model = "relevance/models/default/"
    shipped = {
        p.relative_to(ROOT / "models" / "default").as_posix()
        for p in (ROOT / "models" / "default").rglob("*")
        if p.is_file()
    }
    assert {n.removeprefix(model) for n in names if n.startswith(model)} == shipped
    assert f"{model}embedder/model.safetensors" in names and f"{model}config.json" in names
    assert wheel.stat().st_size < 100e6  # PyPI's default upload limit
