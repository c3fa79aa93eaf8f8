# leadml: the two commands. Both create .venv when missing and install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test lint typecheck unit notebooks bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,spark,bench]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadml demo

lint: $(STAMP)
	$(BIN)/ruff check leadml tests benchmarks
	$(BIN)/ruff format --check leadml tests benchmarks

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -q --timeout=900 --durations=15

notebooks: $(STAMP)
	$(BIN)/python tests/run_notebooks.py notebooks

test: lint typecheck unit notebooks

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) mlruns mlflow.db .pytest_cache .mypy_cache .ruff_cache
