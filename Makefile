# The two commands a newcomer needs: `make run` and `make test`. Everything they need is installed here.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUNTIME := $(VENV)/.runtime
INSTALLED := $(VENV)/.installed

.PHONY: run test lint typecheck unit install clean soak

# `make run` needs the service's own dependencies only; `make test` adds the tools and test peers.
$(RUNTIME): pyproject.toml constraints.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -c constraints.txt -e .
	@touch $@

$(INSTALLED): $(RUNTIME)
	$(BIN)/python -m pip install --quiet -c constraints.txt -e '.[dev]'
	@touch $@

install: $(INSTALLED)

# For local runs only: the session secret `make run` uses when the environment sets none.
DEV_SECRET := eventgate-development-secret-never-use-in-production

run: $(RUNTIME)
	@if [ -z "$$NEXTAUTH_SECRET$$AUTH_SECRET" ]; then \
	  echo "make run: no NEXTAUTH_SECRET or AUTH_SECRET set; using the DEVELOPMENT secret '$(DEV_SECRET)'" >&2; \
	  export NEXTAUTH_SECRET='$(DEV_SECRET)'; \
	fi; \
	if [ -z "$$INNGEST_EVENT_KEY$$INNGEST_DEV$$INNGEST_BASE_URL$$INNGEST_EVENT_API_BASE_URL" ]; then \
	  echo "make run: no Inngest configured; events wait in the outbox for a dev server on 127.0.0.1:8288" >&2; \
	  export INNGEST_DEV=1; \
	fi; \
	exec $(BIN)/eventgate serve

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(INSTALLED)
	$(BIN)/mypy

unit: $(INSTALLED)
	$(BIN)/pytest -q tests/unit

# The browser test (tests/browser/) drives Debian's Chromium: Playwright's own browser builds are a download.
CHROMIUM := /usr/bin/chromium

test: lint typecheck
	@test -x $(CHROMIUM) || { $(SUDO) apt-get update && $(SUDO) apt-get install -y chromium; }
	$(BIN)/pytest -q

# `make soak`: the flapping-bus soak of tests/reliability/test_fresh_delivery.py, longer than in `make test`.
SOAK_CYCLES ?= 4
SOAK_SCALE ?= 2.5

soak: $(INSTALLED)
	EVENTGATE_SOAK_CYCLES=$(SOAK_CYCLES) EVENTGATE_SOAK_SCALE=$(SOAK_SCALE) \
	  $(BIN)/pytest -q -s tests/reliability/test_fresh_delivery.py -k flapping

clean:
	rm -rf $(VENV) .mypy_cache .pytest_cache .ruff_cache .hypothesis

# `make bench`: load on loopback only, a few minutes, never part of `make test`; see bench/README.md.
BENCH_VENV := bench/.venv
PY_SPY_VERSION := 0.4.3
BENCH_ARGS ?=
SUDO = $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: bench
bench: $(INSTALLED)
	@command -v wrk >/dev/null || { $(SUDO) apt-get update && $(SUDO) apt-get install -y wrk; }
	@test -x $(BENCH_VENV)/bin/py-spy || { $(PYTHON) -m venv $(BENCH_VENV) && \
	  $(BENCH_VENV)/bin/python -m pip install --quiet 'py-spy==$(PY_SPY_VERSION)'; }
	$(BIN)/python bench/run.py --venv $(VENV) --py-spy $(BENCH_VENV)/bin/py-spy $(BENCH_ARGS)
