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

# two workers, whole files each (a module's trained fixtures are built once), one thread each:
# a training run uses about one core whatever its thread count (LightGBM's col-wise histograms give
# the same trees on one thread or two), so two single-threaded workers finish in about half the time
# where two-threaded ones fought over the cores
unit: $(STAMP)
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  $(BIN)/pytest -q --timeout=900 -n 2 --dist loadfile --durations=15

# executes every notebook (real-data ones skip with the reason when ../shared/datasets is absent);
# the executed copies in docs/notebooks/ are what the documentation site shows
notebooks: $(STAMP)
	$(BIN)/python tests/run_notebooks.py notebooks --out docs/notebooks

test: lint typecheck unit notebooks

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) mlruns mlflow.db .pytest_cache .mypy_cache .ruff_cache
