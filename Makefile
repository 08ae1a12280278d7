# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   creates .venv if missing, installs relevance, scores the seed page
#   make test   creates or reuses .venv, installs the test extras, runs the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-test demo test lint model frozen-model bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[test]'

demo: install
	$(BIN)/relevance score data/seed/page.txt

lint: install-test
	$(BIN)/ruff check .

test: install-test lint
	$(BIN)/python -m pytest -q

# Rebuild the shipped default model from the shipped dev feeds (deterministic).
model: install
	$(BIN)/relevance train data/dev.jsonl --meta data/dev.meta.jsonl --group-by anchor.story \
		--out models/default --seed 0

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
