"""The package's house rules, enforced: stages import one way, small modules, no `training`.

The layers contract is import-linter's (``[tool.importlinter]`` in pyproject.toml); the
rest is read with ``ast``, so nothing is imported or run.
"""

import ast
import subprocess
import sys
from pathlib import Path

from conftest import ROOT

PACKAGE = ROOT / "relevance"


def test_import_linter_layers_contract_is_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    res = subprocess.run([str(lint)], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert res.returncode == 0, res.stdout + res.stderr
    assert "2 kept, 0 broken" in res.stdout


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


def test_the_library_never_imports_the_training_recipes():
    bad = {
        str(p.relative_to(ROOT)): sorted(n for n in _imports(p) if n.split(".")[0] == "training")
        for p in PACKAGE.rglob("*.py")
    }
    assert not {k: v for k, v in bad.items() if v}


def test_no_module_over_500_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 500
    }
    assert not long


def test_only_the_relevance_package_is_installed():
    text = (ROOT / "pyproject.toml").read_text(encoding="utf-8")
    assert 'include = ["relevance*"]' in text
