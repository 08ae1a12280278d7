# Two commands set everything up on a fresh machine with Python 3.11:
#   make demo   creates .venv if missing, installs relevance, scores the seed page
#   make test   creates or reuses .venv, installs the test extras, runs the whole suite
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# constraints.txt pins torch to its CPU build: every install goes through it.
PIP := $(BIN)/python -m pip install --quiet -c constraints.txt
export HF_HUB_OFFLINE := 1
export TOKENIZERS_PARALLELISM := false

.PHONY: install install-train install-test demo test lint model frozen-model heldout bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

install: $(BIN)/python
	$(PIP) -e .

install-train: $(BIN)/python
	$(PIP) -e '.[train,onnx,report]'

install-test: $(BIN)/python
	$(PIP) -e '.[test]'

demo: install
	$(BIN)/relevance score data/seed/page.txt

lint: install-test
	$(BIN)/ruff check .

test: install-test lint
	$(BIN)/python -m pytest -q

DEV := data/dev_graded.jsonl data/ecb_dev.jsonl \
	--meta data/dev_graded.meta.jsonl data/ecb_dev.meta.jsonl --group-by anchor.story,main.topic

# Rebuild both shipped models from the graded feeds (Wikipedia blurbs and ECB+ articles),
# deterministically (about 25 min on 2 CPU cores): models/frozen (packaged MiniLM), a
# fine-tuned candidate in build/finetuned, promoted to models/default only if it beats the
# frozen embedder on held-out stories at both levels; then the onnx-int8 heads of both.
model: install-train
	$(BIN)/python -m training.build_default --seed 0
	$(BIN)/relevance add-backend models/default $(DEV) --backend onnx-int8 --seed 0
	$(BIN)/relevance add-backend models/frozen $(DEV) --backend onnx-int8 --seed 0

# Only the frozen-embedder model (under a minute).
frozen-model: install-train
	$(BIN)/relevance train $(DEV) --out models/frozen --seed 0
	$(BIN)/relevance add-backend models/frozen $(DEV) --backend onnx-int8 --seed 0

# Held-out evaluation of README's figures: every story and ECB+ topic held out once (4 folds).
heldout: install-train
	$(BIN)/python benchmarks/heldout_eval.py --out build/heldout --finetune --legacy

bench: install-test
	$(BIN)/python benchmarks/bench_score.py

clean:
	rm -rf build dist *.egg-info .pytest_cache .ruff_cache
