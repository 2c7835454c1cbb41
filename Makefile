# Two entry points: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
WORKDIR ?= demo_output

.PHONY: demo test test-fast test-min lint format install clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,postgres]"
	touch $@

install: $(VENV)/.installed

demo: install
	$(BIN)/crm-predict demo --output $(WORKDIR)

lint: install
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks
	$(BIN)/lint-imports

# Test files run on WORKERS processes (pytest-xdist), one file per worker at a time
# (each notebook is a unit of its own), files with slow tests first: see tests/conftest.py.
# OpenMP threads sleep instead of spinning while they wait, so two workers' LightGBM fits
# share the cores instead of fighting over them.
WORKERS ?= 2
PYTEST := OMP_WAIT_POLICY=PASSIVE $(BIN)/python -m pytest -n $(WORKERS) --dist loadgroup \
	--no-loadscope-reorder

# Everything: unit, slow (real sampling) and integration (real servers, ../shared/data).
test: lint
	$(PYTEST)

# Unit tests only (no real sampling, no servers): the loop while you work.
test-fast: lint
	$(PYTEST) -m "not slow and not integration"

# The fast tests against the lowest versions pyproject.toml allows, in a venv of their own.
MIN_VENV ?= .venv-min
test-min:
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(MIN_VENV)/bin/python benchmarks/floors.py > $(MIN_VENV)/floors.txt
	$(MIN_VENV)/bin/python -m pip install --quiet -c $(MIN_VENV)/floors.txt -e ".[test]"
	$(MIN_VENV)/bin/python -m pytest -m "not slow and not integration" -p no:cacheprovider

format: install
	$(BIN)/ruff format src tests benchmarks
	$(BIN)/ruff check --fix src tests benchmarks

clean:
	rm -rf $(VENV) $(MIN_VENV) $(WORKDIR) mlflow.db mlruns
