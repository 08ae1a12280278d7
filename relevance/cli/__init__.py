"""Stage 6, the command line: each subcommand parses its flags and calls one library function."""

from relevance.cli.main import build_parser, main
from relevance.persistence.location import CHECKOUT as DEFAULT_MODEL_DIR
from relevance.persistence.location import default_model_dir

__all__ = ["DEFAULT_MODEL_DIR", "build_parser", "default_model_dir", "main"]
