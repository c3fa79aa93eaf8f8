# leadml: the two commands. Both create .venv when missing and install what they need.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: demo test lint typecheck unit notebooks docs bench clean browser pictures

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e ".[dev,spark,bench,docs]"
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/leadml demo

# the README's pictures (docs/images/{reliability,lift,conversion_by_band,reasons_waterfall}.png)
# from a smaller demo (5,000 synthetic leads, seed 0, no bootstrap, no MLflow; the figures say
# so); PNGs without timestamps, so they change only when the numbers do
PICTURES_LEADS ?= 5000
pictures: $(STAMP)
	tmp=$$(mktemp -d) && \
	  OMP_NUM_THREADS=1 $(BIN)/leadml demo --n-leads $(PICTURES_LEADS) --seed 0 --n-boot 0 \
	    --no-mlflow --out $$tmp/demo --figures docs/images; \
	  status=$$?; rm -rf $$tmp; exit $$status

# headless Chromium for tests/browser, from the Debian packages (Playwright drives it and never
# downloads a browser): installed when missing
browser:
	@if [ ! -x /usr/bin/chromium ] || [ ! -x /usr/bin/chromedriver ]; then \
	  echo "installing the Debian packages chromium and chromium-driver (browser tests)"; \
	  if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	  $$SUDO apt-get update -q && \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium chromium-driver; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check leadml tests benchmarks docs/*.py
	$(BIN)/ruff format --check leadml tests benchmarks docs/*.py

typecheck: $(STAMP)
	$(BIN)/mypy

# two workers, whole files each (a module's trained fixtures are built once; the docs pages are one
# class each and spread; tests/conftest.py queues the long poles first), one thread each:
# a training run uses about one core whatever its thread count (LightGBM's col-wise histograms give
# the same trees on one thread or two), so two single-threaded workers finish in about half the time
# where two-threaded ones fought over the cores. Every pool, not only OpenMP's: DuckDB
# (LEADML_THREADS), numba (the explanations) and polars (a benchmark baseline) otherwise start a
# thread per core each; measured with the benchmark smoke run beside a training test, the pair
# took 115 s with those pools and 73 s without (the training test 71 s and 23 s)
unit: $(STAMP) browser
	OMP_NUM_THREADS=1 OPENBLAS_NUM_THREADS=1 MKL_NUM_THREADS=1 \
	  LEADML_THREADS=1 NUMBA_NUM_THREADS=1 POLARS_MAX_THREADS=1 \
	  $(BIN)/pytest -q --timeout=900 -n 2 --dist loadscope --no-loadscope-reorder --durations=15

# executes every notebook (real-data ones skip with the reason when ../shared/datasets is absent);
# the executed copies in docs/notebooks/ are what the documentation site shows
notebooks: $(STAMP)
	$(BIN)/python tests/run_notebooks.py notebooks --out docs/notebooks

# the site (mkdocs.yml, docs/): strict, so a broken link, a missing page or an unreadable docstring
# fails the build (not with --quiet: it hides the warnings strict mode counts); it shows the
# executed notebooks that `make notebooks` wrote to docs/notebooks/
docs: $(STAMP)
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

test: lint typecheck unit notebooks docs

bench: $(STAMP)
	$(BIN)/python -m benchmarks

clean:
	rm -rf $(VENV) mlruns mlartifacts mlflow.db demo_output .pytest_cache .mypy_cache .ruff_cache site
