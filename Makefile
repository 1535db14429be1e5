# The two commands of the README: `make run` and `make test`. Everything they need is
# installed on first use: the virtualenv in .venv and the service binaries (scripts/install-services).
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
BASETEMP := $(CURDIR)/.pytest-tmp
PYTEST_ARGS ?=
# Tests run in one process per core (pytest-xdist), a test file per process at a time, so a
# module-scoped service is started once; `make test TEST_WORKERS=0` runs them in one process.
TEST_WORKERS ?= auto

.PHONY: test run bench docs lint typecheck layers services venv clean help

help:
	@echo "make run    start Prometheus, Alertmanager, InfluxDB, the exporter and the bot on loopback"
	@echo "make test   lint, type-check, layer contracts and every test (real services included)"
	@echo "make bench  benchmarks, printed as ratios against a baseline measured in the same run"
	@echo "make docs   redraw the images of docs/charts.md, dashboards.md, projects.md and reports.md from fixed data"

$(STAMP): pyproject.toml
	@# A venv made without pip (python3-venv missing) is removed, so the next run starts clean.
	@test -x $(BIN)/pip || { rm -rf $(VENV); $(PYTHON) -m venv $(VENV) || { rm -rf $(VENV); \
	  echo "make: cannot create $(VENV); on Debian/Ubuntu: apt-get install python3-venv" >&2; \
	  exit 1; }; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@# matplotlib's font cache, built here rather than on the first chart anyone asks for.
	$(BIN)/python -c 'import matplotlib.font_manager'
	@touch $(STAMP)

venv: $(STAMP)

services:
	@scripts/install-services

lint: $(STAMP)
	$(BIN)/ruff check .

typecheck: $(STAMP)
	$(BIN)/mypy

layers: $(STAMP)
	$(BIN)/lint-imports

test: $(STAMP) services lint typecheck layers
	@# The orphan check runs whether or not pytest passed: a failing run is when it matters.
	rc=0; HOMELAB_TEST_SESSION=$(BASETEMP) $(BIN)/pytest --basetemp=$(BASETEMP) -n $(TEST_WORKERS) --dist loadfile --cov \
	  --cov-report=term --durations=25 $(PYTEST_ARGS) || rc=$$?; \
	scripts/check-orphans $(BASETEMP) || { [ $$rc -ne 0 ] || rc=1; }; exit $$rc

run: $(STAMP) services
	@scripts/run

bench: $(STAMP) services
	$(BIN)/python -m bench

docs: $(STAMP)
	$(BIN)/python -m bot.tools.chart_gallery docs/images/charts
	$(BIN)/python -m bot.tools.dashboard_gallery docs/images/dashboards
	$(BIN)/python -m bot.tools.report_gallery docs/images/reports
	$(BIN)/python -m bot.tools.browser docs/images/reports/report-daily-all-2026-12-03.html \
	  docs/images/reports/report-daily-screenshot.png

clean:
	rm -rf $(BASETEMP) .mypy_cache .ruff_cache .pytest_cache .coverage
