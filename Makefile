# Every target builds its own virtual environment: nothing relies on packages installed by hand.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install install-test demo example-django example-screenshot test test-oldest lint bench bench-quick bench-ratelimit clean

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

# The Django streaming example (examples/django_stream): offline against a loopback provider
# unless ANTHROPIC_API_KEY is set. Open http://127.0.0.1:8000/ afterwards.
example-django: install
	$(BIN)/python -m pip install --quiet -e '.[django]'
	$(BIN)/python examples/django_stream/manage.py runserver 127.0.0.1:8000

# The example page in headless Chromium (Debian: apt-get install chromium) -> example-screenshot.png
example-screenshot: install
	$(BIN)/python -m pip install --quiet -e '.[django]'
	$(BIN)/python examples/django_stream/screenshot.py example-screenshot.png

lint: install-test
	$(BIN)/ruff check steer_sync tests bench
	$(BIN)/ruff format --check steer_sync tests bench
	$(BIN)/mypy

# Tests under branch coverage (`coverage run`, so steer_sync is measured from its first import;
# settings and the floor are in setup.cfg). Below the floor, the per-file table says where.
test: lint
	$(BIN)/coverage erase
	$(BIN)/coverage run -m pytest -q
	@echo "branch coverage of steer_sync: $$($(BIN)/coverage report --format=total --fail-under=0)%"
	@$(BIN)/coverage report --format=total >/dev/null || { $(BIN)/coverage report; \
		echo "branch coverage is below the floor (fail_under in setup.cfg)"; exit 1; }

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

# The shared rate limiter against a quota-enforcing loopback provider (starts its own redis-server).
bench-ratelimit: install-test
	$(BIN)/python bench/ratelimit.py

clean:
	rm -rf $(VENV) $(OLDEST_VENV) build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
