# Sextant: `make demo` and `make test` on a fresh machine; `make collect` against a real account.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: install demo test test-fast lint typecheck collect serve emulator bench soak clean browser-deps postgres-deps

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(STAMP): requirements.txt requirements-dev.txt constraints.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -r requirements.txt -r requirements-dev.txt -c constraints.txt
	$(BIN)/pip install -q --no-deps -e .
	touch $@

install: $(STAMP)

# Debian's Chromium for the browser tests (Playwright's own browser download is not reachable here).
browser-deps:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for browser tests"; \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium >/dev/null; }

# Debian's PostgreSQL for the shared store's tests (DuckLake's catalog): the tests start a private cluster of their own
# on a Unix socket in a temporary directory and stop it afterwards; nothing listens on a port.
postgres-deps:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { \
	  echo "installing Debian postgresql for the store's tests"; \
	  SUDO=$$(command -v sudo >/dev/null 2>&1 && [ "$$(id -u)" != 0 ] && echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq postgresql >/dev/null; }

## The emulated account, a first collection and the dashboard on http://localhost:8501 (SEXTANT_PORT to change;
## this machine only: its local admin is refused on any other address). Ctrl-C stops all.
## SURGE=endpoint=rpm[,endpoint=rpm] puts a traffic surge on endpoints: under way at start, or, when a demo is
## already running, sent to it (from its next minute on).
demo: install
	$(BIN)/python -m demo.up $(if $(SURGE),--surge '$(SURGE)')

## The emulated account alone; prints its URL.
emulator: install
	$(BIN)/python -m demo

lint: install
	$(BIN)/ruff check .

## Strict type check of the core (sextant/) and the action service (actions/); settings in pyproject.toml.
typecheck: install
	$(BIN)/mypy

## Every check: lint, types, and every test (the emulated account, the browser, reliability).
test: install browser-deps postgres-deps lint typecheck
	$(BIN)/python -m pytest -n 2 --dist loadgroup --durations=30

## The developer's loop: logic on tiny in-process stores, no server, no browser (about a minute).
test-fast: install
	$(BIN)/python -m pytest -m "not emulated and not browser and not slow" -n 2 -q

## Collect once from the account the standard AWS settings (or sextant.toml) name.
collect: install
	$(BIN)/sextant collect --once

## The dashboard alone, on the store the collectors write: http://localhost:8501, this machine only
## (SEXTANT_ADDRESS=0.0.0.0 opens it; SEXTANT_ALLOWED_HOSTS names the hosts browsers may use; see README).
serve: install
	$(BIN)/sextant serve

## Every performance figure at reference scale, against its baseline; rewrites the table in docs/PERFORMANCE.md.
bench: install browser-deps
	$(BIN)/python -m bench

## Longer reliability runs: 30% injected faults, 60 SIGKILLs, collector + dashboard + actions side by side.
soak: install
	$(BIN)/python -m bench.soak --long

## A collector and a dashboard reader on one store for 10 minutes: lock errors and staleness.
side-by-side: install
	$(BIN)/python -m bench.concurrency --minutes 10 --every 1m

clean:
	rm -rf var test-artifacts .pytest_cache .ruff_cache
