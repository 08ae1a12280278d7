"""Importing and using the library changes no globals: csv's field limit, the environment."""

import csv
import os
import subprocess
import sys

from conftest import ROOT


def test_importing_every_module_leaves_globals_alone():
    """What relevance's own modules do on import; the dependencies are imported first, as
    scikit-learn sets OpenMP variables (KMP_*) of its own when imported."""
    code = (
        "import csv, os, pkgutil, importlib\n"
        "import numpy, pandas, pyarrow, scipy, sklearn, sklearn.base, torch, transformers\n"
        "limit, env = csv.field_size_limit(), dict(os.environ)\n"
        "import relevance\n"
        "for m in pkgutil.walk_packages(relevance.__path__, 'relevance.'):\n"
        "    if m.name.endswith(('ray_engine', 'report', 'plots')):\n"
        "        continue  # optional extras; imported by their own tests\n"
        "    importlib.import_module(m.name)\n"
        "assert csv.field_size_limit() == limit, csv.field_size_limit()\n"
        "assert dict(os.environ) == env, set(os.environ) ^ set(env)\n"
        "print('ok')\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HF_HUB_OFFLINE"}
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True
    )
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr


def test_reading_a_csv_with_a_huge_field_restores_the_limit(tmp_path):
    from relevance import read_input

    body = "word " * 60_000  # 300 kB, over csv's default 128 KiB field limit
    path = tmp_path / "big.csv"
    path.write_text(
        "feed_id,article_title,article_body,item_id,item_title,item_summary\n"
        f"f1,Title,{body},i1,An item,\n",
        encoding="utf-8",
    )
    before = csv.field_size_limit()
    frame = read_input(path)
    assert len(frame) == 1 and len(frame["article_body"].iat[0]) > 128 * 1024
    assert csv.field_size_limit() == before


def test_help_imports_nothing_heavy():
    """``relevance --help`` builds every subcommand's parser from the CLI's own modules:
    no numpy, pandas, scikit-learn or torch (each costs a fraction of a second or more)."""
    code = (
        "import sys, contextlib, io\n"
        "from relevance.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    try:\n"
        "        main(['--help'])\n"
        "    except SystemExit:\n"
        "        pass\n"
        "heavy = {'numpy', 'pandas', 'pyarrow', 'sklearn', 'scipy', 'torch'} & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    res = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True
    )
    assert res.stdout.strip() == "[]", res.stdout


def test_a_cache_warm_score_run_imports_no_scikit_learn_or_torch(tmp_path):
    """Scoring with every text cached loads the model for scoring alone (``load_scorer``):
    scikit-learn and scipy (seconds of imports), the encoder, and pydantic (needed only
    to name the problems of a bad record) stay unimported."""
    feeds = tmp_path / "feeds.jsonl"
    feeds.write_text(
        '{"feed_id": "f1", "article": {"title": "Geneva talks", "body": "Russia and the US '
        'met in Geneva."}, "items": [{"id": "a", "title": "Ukraine ceasefire talks"}, '
        '{"id": "b", "title": "Stocks to buy now"}]}\n',
        encoding="utf-8",
    )
    code = (
        "import sys\n"
        "from relevance.cli import main\n"
        f"main(['score', {str(feeds)!r}, '--cache-dir', {str(tmp_path / 'cache')!r}, "
        "'--no-progress', '--out', sys.argv[1]])\n"
        "heavy = {'sklearn', 'scipy', 'torch', 'sentence_transformers', 'pydantic'}"
        " & set(sys.modules)\n"
        "print(sorted(heavy))\n"
    )
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    runs = []
    for out in ("cold.jsonl", "warm.jsonl"):  # the first run encodes and fills the cache
        res = subprocess.run(
            [sys.executable, "-c", code, str(tmp_path / out)],
            cwd=ROOT, env=env, capture_output=True, text=True, check=True,
        )  # fmt: skip
        runs.append(res.stdout.strip().splitlines()[-1])
    assert "torch" in runs[0], runs  # the cold run did load the encoder
    assert runs[1] == "[]", runs
    assert (tmp_path / "cold.jsonl").read_bytes() == (tmp_path / "warm.jsonl").read_bytes()
