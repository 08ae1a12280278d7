"""Where the default model is, and what names a model.

An installed wheel carries the default model inside the package
(``relevance/models/default``, copied there by the build); a source checkout has it at
the repository's top level (``models/default``). ``$RELEVANCE_MODEL`` overrides both, so
the CLI and ``load_model()`` find a model from any directory.
"""

from __future__ import annotations

import os
from pathlib import Path

from relevance.io.files import sha256_file
from relevance.persistence.folder import CONFIG, ModelLoadError

ENV = "RELEVANCE_MODEL"
#: Inside an installed package (the wheel's copy of models/default).
PACKAGED = Path(__file__).resolve().parents[1] / "models" / "default"
#: In a source checkout (an editable install).
CHECKOUT = Path(__file__).resolve().parents[2] / "models" / "default"


def default_model_dir() -> Path:
    """``$RELEVANCE_MODEL``, else the packaged default model, else the checkout's."""
    if os.environ.get(ENV):
        return Path(os.environ[ENV])
    for place in (PACKAGED, CHECKOUT):
        if (place / CONFIG).is_file():
            return place
    raise ModelLoadError(
        f"no default model: neither {PACKAGED} (an installed package) nor {CHECKOUT} (a source "
        f"checkout) holds one; pass a model folder or set ${ENV}"
    )


def model_dir(folder: str | Path | None = None) -> Path:
    """``folder``, or the default model's when none is given."""
    return Path(folder) if folder is not None else default_model_dir()


def model_identity(folder: str | Path) -> dict[str, str]:
    """A model's name and hash: config.json lists every file's sha256, so its own names all.

    The id is the folder's name and the first 12 hex digits of that hash (``default@3f2a…``).
    """
    folder = Path(folder)
    sha = sha256_file(folder / CONFIG)
    return {"id": f"{folder.name}@{sha[:12]}", "sha256": sha}
