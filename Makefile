# Two commands set everything up: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
DEMO_STAMP := $(VENV)/.demo-installed
DEMO_PORT ?= 5000

.PHONY: demo test test-fast test-min check lint typecheck docs bench bench-smoke clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[test,lint,docs,bench]"
	touch $(STAMP)

# The demo needs the package and its own dependencies only, not the test, lint, docs and bench
# extras: a first `make demo` installs in seconds.
$(DEMO_STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e .
	touch $(DEMO_STAMP)

# Run example_app in debug mode on an embedded SQLite database, migrated and seeded first, with
# the status page on.
demo: $(DEMO_STAMP)
	FLASK_APP=example_app $(BIN)/flask db prepare --env development
	@echo
	@echo "  The app:          http://127.0.0.1:$(DEMO_PORT)/"
	@echo "  Its status page:  http://127.0.0.1:$(DEMO_PORT)/_versioning/"
	@echo
	FLASK_APP=example_app VERSIONING_STATUS_PAGE=/_versioning $(BIN)/flask run --debug --port $(DEMO_PORT)

# The whole suite against SQLite, PostgreSQL and MariaDB, with branch coverage of the package
# (fail_under in pyproject.toml: the run fails below 90%), in four worker processes on two cores:
# a worker often waits on a database server or on the real process a test of processes starts
# (kills, Ctrl-C, concurrent starts, workers, the browser), and two workers left the cores half
# idle. Every other command runs in the test's own process.
test: $(STAMP)
	$(BIN)/python -m pytest -n 4 --dist worksteal --cov --cov-report=term-missing:skip-covered

# The inner loop: SQLite only, every command in the test's own process, no browser and no test
# whose subject is a process of its own (marked `process`). See docs/contributing.md.
test-fast: $(STAMP)
	VERSIONING_TEST_BACKENDS=sqlite $(BIN)/python -m pytest -n 2 -q -m "not process"

# The lowest versions pyproject.toml declares, resolved (not guessed) by uv's lowest-direct
# resolution of the package's own dependencies, in an environment of their own; the test and
# lint extras (ruff runs as a post-write hook in the tests) are installed on top under those
# pins. SQLite and PostgreSQL, no browser. uv comes from pip inside the environment.
MIN_VENV := .venv-min
MIN_STAMP := $(MIN_VENV)/.installed
$(MIN_STAMP): pyproject.toml
	rm -rf $(MIN_VENV)
	$(PYTHON) -m venv $(MIN_VENV)
	$(MIN_VENV)/bin/python -m pip install --quiet --upgrade pip uv
	$(MIN_VENV)/bin/uv pip compile --quiet --resolution lowest-direct --python $(MIN_VENV)/bin/python pyproject.toml -o $(MIN_VENV)/lowest.txt
	$(MIN_VENV)/bin/uv pip install --quiet --python $(MIN_VENV)/bin/python -c $(MIN_VENV)/lowest.txt -e ".[test,lint]"
	touch $(MIN_STAMP)

test-min: $(MIN_STAMP)
	@grep -E "^(flask|flask-sqlalchemy|sqlalchemy|alembic|click)==" $(MIN_VENV)/lowest.txt
	VERSIONING_TEST_BACKENDS=sqlite,postgresql $(MIN_VENV)/bin/python -m pytest -n 4 --dist worksteal -q -m "not browser"

lint: $(STAMP)
	$(BIN)/ruff check flask_versioning tests benchmarks example_app examples docs
	$(BIN)/ruff format --check flask_versioning tests benchmarks example_app examples docs

typecheck: $(STAMP)
	$(BIN)/mypy

check: lint typecheck

docs: $(STAMP)
	$(BIN)/sphinx-build -W --keep-going -b html docs docs/_build/html

bench: $(STAMP)
	$(BIN)/python -m benchmarks

bench-smoke: $(STAMP)
	$(BIN)/python -m benchmarks --smoke

clean:
	rm -rf $(VENV) $(MIN_VENV) .pytest_cache tests/artifacts .mypy_cache .ruff_cache docs/_build dist
