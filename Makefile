# The commands people type. Everything installs itself into .venv on first use.
PYTHON ?= $(shell command -v python3.11 2>/dev/null || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTEST_ARGS ?=

.PHONY: install run test lint migrate demo bench audit backup restore chaos clean lessons events-parked events-retry events-drop

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] == (3, 11), "Mercado Corto needs Python 3.11, found " + sys.version.split()[0]'
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

migrate: install
	$(BIN)/python -m services.common.migrations upgrade

demo: migrate
	$(BIN)/python -m infra.demo

# the demo world is loaded only in development (MC_ENV unset or "development")
run: migrate
	@if [ "$${MC_ENV:-development}" = development ]; then $(BIN)/python -m infra.demo; fi
	$(BIN)/python -m infra.run

test: install
	$(BIN)/python -m pytest $(PYTEST_ARGS)

lint: install
	$(BIN)/ruff check .

lessons: install
	$(BIN)/python -m gateway.training check

bench: migrate
	$(BIN)/python -m bench

audit: install
	$(BIN)/python -m gateway.audit

# Chaos under load, long form: ten minutes of load while every process, PostgreSQL and NATS restart
# (a private PostgreSQL cluster and NATS server of its own; CHAOS_SECONDS=... for another length)
CHAOS_SECONDS ?= 600
chaos: install
	MC_CHAOS_SECONDS=$(CHAOS_SECONDS) $(BIN)/python -m pytest tests/reliability/test_chaos.py -s -q -p no:cacheprovider

# Parked (dead-letter) events of every service: list them, retry one after a fix, or drop one.
events-parked: install
	$(BIN)/python -m services.common.dead_letters list

events-retry: install
	@test -n "$(EVENT)" || (echo "usage: make events-retry EVENT=<event id from make events-parked>"; exit 2)
	$(BIN)/python -m services.common.dead_letters retry $(EVENT)

events-drop: install
	@test -n "$(EVENT)" || (echo "usage: make events-drop EVENT=<event id from make events-parked>"; exit 2)
	$(BIN)/python -m services.common.dead_letters drop $(EVENT)

# BACKUP=folder picks the folder (default: var/backups/<time>; restore takes the newest)
backup: install
	$(BIN)/python -m infra.backup backup $(BACKUP)

restore: install
	$(BIN)/python -m infra.backup restore $(BACKUP)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
