"""The build step pyproject.toml cannot express: ship the default model inside the package.

``models/`` stays at the repository's top level (where ``make model`` writes it); a
non-editable install or a wheel copies ``models/default`` to ``relevance/models/default``,
where ``relevance.load_model()`` and the CLI find it from any directory. An editable install
reads the checkout's ``models/default`` directly.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

MODEL = Path(__file__).resolve().parent / "models" / "default"


class BuildWithModel(build_py):
    """``build_py``, then the default model folder copied into the built package."""

    def run(self) -> None:
        super().run()
        if getattr(self, "editable_mode", False):
            return  # the checkout's models/default is used in place
        if not (MODEL / "config.json").is_file():
            raise SystemExit(f"{MODEL}: no model folder to package (run `make model`)")
        target = Path(self.build_lib) / "relevance" / "models" / "default"
        shutil.rmtree(target, ignore_errors=True)
        shutil.copytree(MODEL, target)


setup(cmdclass={"build_py": BuildWithModel})
