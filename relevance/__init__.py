"""relevance: score recommended news stories against their main article.

    from relevance import load_model, read_input
    model = load_model("models/default")
    ranked = model.score(read_input("data/seed/page.txt"))
"""

from relevance.artifacts import ModelLoadError, load_model, save_model
from relevance.inputs import read_input, read_inputs
from relevance.model import NotFittedError, RelevanceModel
from relevance.schema import InputError

__version__ = "0.1.0"

__all__ = [
    "InputError",
    "ModelLoadError",
    "NotFittedError",
    "RelevanceModel",
    "__version__",
    "load_model",
    "read_input",
    "read_inputs",
    "save_model",
]
