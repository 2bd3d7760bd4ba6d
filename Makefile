# Every target builds its own virtual environment: nothing relies on packages installed by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-test demo test test-oldest lint bench bench-quick clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: $(BIN)/python setup.py setup.cfg
	$(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,lint]'
	touch $@

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

demo: install
	$(BIN)/steer-sync demo

lint: install-test
	$(BIN)/ruff check steer_sync tests bench
	$(BIN)/ruff format --check steer_sync tests bench
	$(BIN)/mypy

test: lint
	$(BIN)/python -m pytest -q

# The oldest supported Python (3.9), in its own environment: tests only, lint runs once in `test`.
OLDEST_PYTHON ?= python3.9
OLDEST_VENV ?= .venv-oldest
test-oldest:
	$(OLDEST_PYTHON) -m venv $(OLDEST_VENV)
	$(OLDEST_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(OLDEST_VENV)/bin/python -m pip install --quiet -e '.[test]'
	$(OLDEST_VENV)/bin/python -m pytest -q

# The whole table takes a few minutes; bench-quick (or BENCH_ARGS=--quick) is a smoke run.
bench: install-test
	$(BIN)/python bench/run.py $(BENCH_ARGS)

bench-quick: install-test
	$(BIN)/python bench/run.py --quick

clean:
	rm -rf $(VENV) $(OLDEST_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
