# Tierline: `make help` lists the verbs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
# durable-rules needs CPython 3.10-3.12: take the first such interpreter on PATH.
PYTHON ?= $(shell for p in python3.12 python3.11 python3.10 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(not ((3, 10) <= sys.version_info[:2] < (3, 13)))' 2>/dev/null \
	&& { echo $$p; break; }; done)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: help setup test lint policy-test bench

help: ## List the verbs
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "Tierline needs Python 3.10, 3.11 or 3.12 (durable-rules does not import on 3.13). Install one, or pass PYTHON=/path/to/python3.12." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[server,dev]'
	@touch $@

setup: $(STAMP) ## Create .venv and install Tierline with its server and dev extras

test: $(STAMP) ## Run the policy cases and the test suite (needs redis-server on PATH)
	$(BIN)/tierline policy test rules/
	$(BIN)/pytest

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check service tests bench
	$(BIN)/mypy

policy-test: $(STAMP) ## Run rules/tests against the default policy
	$(BIN)/tierline policy test rules/

bench: $(STAMP) ## Engine benchmark: our layer vs bare durable-rules, RSS over 1M decisions
	$(BIN)/python bench/engine.py
