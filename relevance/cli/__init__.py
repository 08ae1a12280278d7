"""Stage 6, the command line: each subcommand parses its flags and calls one library function."""

from relevance.cli.main import DEFAULT_MODEL_DIR, build_parser, default_model_dir, main

__all__ = ["DEFAULT_MODEL_DIR", "build_parser", "default_model_dir", "main"]
