# Tierline: `make help` lists the verbs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
# CPython 3.10 or newer: python3 when it is one, else the newest versioned interpreter that runs.
PYTHON ?= $(shell for p in python3 python3.13 python3.12 python3.11 python3.10; do \
	$$p -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null && { echo $$p; break; }; done)
# Python 3.13 for `make test-313`: on PATH, or installed by pyenv (whose shims run only the
# selected version, so its directory is looked in).
PYTHON313 ?= $(shell for p in python3.13 "$${PYENV_ROOT:-$$HOME/.pyenv}"/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$$p"; break; }; done)
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Engine wheels built by tierline_server.engine_build, one per interpreter, kept across venvs.
WHEELS := .cache/wheels

.PHONY: help setup test test-engine test-313 lint lint-deploy k8s-rules policy-test run bench fairness-example

help: ## List the verbs
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk 'BEGIN {FS = ":.*## "}; {printf "  make %-16s %s\n", $$1, $$2}'

# The engine first: on Python 3.13+ pip cannot build it unchanged (see engine_build.py), and with
# it installed, installing Tierline leaves it as it is.
$(STAMP): pyproject.toml service/tierline_server/engine_build.py
	@test -n "$(PYTHON)" || { echo "Tierline needs CPython 3.10 or newer: install one, or pass PYTHON=/path/to/python3." >&2; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	PYTHONPATH=service $(BIN)/python -m tierline_server.engine_build --wheel-dir $(WHEELS)
	$(BIN)/pip install --quiet -e '.[server,report,dev]'
	@touch $@

setup: $(STAMP) ## Create .venv and install Tierline with its server, report and dev extras

test: $(STAMP) proto-check lint-deploy ## Check the stubs and deploy/, run the policy cases and the test suite (needs redis-server, prometheus)
	$(BIN)/tierline policy test --policy rules/
	$(BIN)/pytest

test-engine: $(STAMP) ## The policy cases, the policy and engine tests (any PYTHON=, VENV=)
	$(BIN)/tierline policy test --policy rules/
	$(BIN)/pytest tests/unit/policy tests/unit/test_engine_build.py

test-313: ## test-engine on Python 3.13, in .venv-3.13
	@test -n "$(PYTHON313)" || { echo "make test-313 needs Python 3.13: install it, or pass PYTHON313=/path/to/python3.13." >&2; exit 1; }
	$(MAKE) --no-print-directory test-engine VENV=.venv-3.13 PYTHON=$(PYTHON313)

lint: $(STAMP) ## ruff and mypy
	$(BIN)/ruff check .
	$(BIN)/ruff format --check service clients tests bench deploy
	$(BIN)/mypy

# promtool comes with Debian's prometheus package (so does the prometheus the tests run).
PROMTOOL := $(shell command -v promtool)

lint-deploy: $(STAMP) ## Lint the Dockerfile, check and unit-test the alerts, check the Compose and Prometheus files
	$(BIN)/hadolint deploy/docker/Dockerfile
	@test -n "$(PROMTOOL)" || { echo "promtool is missing: apt-get install prometheus" >&2; exit 1; }
	$(PROMTOOL) check rules deploy/prometheus/alerts.yaml
	$(PROMTOOL) test rules deploy/prometheus/alerts.test.yaml
	$(PROMTOOL) check config deploy/prometheus/prometheus.yml
	$(BIN)/check-jsonschema --builtin-schema vendor.compose-spec deploy/compose.yaml

k8s-rules: $(STAMP) ## Regenerate the Kubernetes PrometheusRule from deploy/prometheus/alerts.yaml
	$(BIN)/python deploy/k8s/prometheusrule.py > deploy/k8s/components/prometheus-operator/prometheusrule.yaml

run: $(STAMP) ## Serve the default policy with a local Redis of demo customers (Ctrl-C stops)
	BIN=$(BIN) deploy/local/run.sh

policy-test: $(STAMP) ## Run rules/tests against the default policy
	$(BIN)/tierline policy test --policy rules/

BENCH_STAMP := $(VENV)/.bench-installed

$(BENCH_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[server,dev,bench]'
	@touch $@

bench: $(BENCH_STAMP) ## Load harness: Tierline over Redis beside bare gRPC echo, h2load (needs nghttp2-client)
	@command -v h2load >/dev/null 2>&1 || { echo "make bench needs h2load: apt-get install nghttp2-client" >&2; exit 1; }
	$(BIN)/python bench/service.py $(BENCH_ARGS)

# The README's example report: 2,000 demo customers, the default policy and mix, and a screenshot
# of its top taken by Debian's chromium (headless, none of its background connections).
CHROMIUM_FLAGS := --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync --hide-scrollbars

fairness-example: $(STAMP) ## Regenerate docs/fairness-example.html and its screenshot (needs chromium)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp" demo-customers.csv' EXIT && \
	$(BIN)/tierline features demo --count 2000 --seed 7 --out demo-customers.csv && \
	$(BIN)/tierline report fairness demo-customers.csv --policy rules --out docs/fairness-example.html >/dev/null && \
	chromium $(CHROMIUM_FLAGS) --user-data-dir="$$tmp" --window-size=1280,1500 --virtual-time-budget=5000 \
		--screenshot=docs/fairness-example.png "file://$(CURDIR)/docs/fairness-example.html" 2>/dev/null

# --- API contract: proto/ -> committed Python stubs in clients/python/ --------------------------
# protoc runs with -I proto, so tierline/v1/x.proto becomes clients/python/tierline/v1/x_pb2.py and
# the stubs import each other as `from tierline.v1 import ...` (never edited by hand).
PROTO_DIR := proto
PROTO_OUT := clients/python
PROTO_FILES := $(sort $(wildcard $(PROTO_DIR)/tierline/*/*.proto))
# Packages that hold generated code only (besides a hand-written __init__.py): tierline/v1 ...
PROTO_PACKAGES := $(sort $(patsubst $(PROTO_DIR)/%/,%,$(dir $(PROTO_FILES))))
# protoc-gen OUT_DIR: the _pb2.py, _pb2_grpc.py and _pb2.pyi of every proto file, and its
# Connect (HTTP) stubs _connect.py for google.protobuf messages, into OUT_DIR.
# The second include is google/protobuf/*.proto (Timestamp) as shipped with grpcio-tools.
protoc-gen = $(BIN)/python -m grpc_tools.protoc --proto_path=$(PROTO_DIR) \
	--proto_path="$$($(BIN)/python -c 'import grpc_tools, os; print(os.path.join(os.path.dirname(grpc_tools.__file__), "_proto"))')" \
	--plugin=protoc-gen-connectrpc=$(BIN)/protoc-gen-connectrpc --connectrpc_out=protobuf=google:$(1) \
	--python_out=$(1) --grpc_python_out=$(1) --pyi_out=$(1) $(PROTO_FILES)
# The default tools come from .venv (set up on demand); with BIN=/other/bin they are used as they are.
PROTO_DEPS := $(if $(filter $(VENV)/bin,$(BIN)),$(STAMP))

.PHONY: proto proto-check

proto: $(PROTO_DEPS) ## Regenerate the Python stubs (gRPC and Connect) from proto/
	$(BIN)/buf lint $(PROTO_DIR)
	rm -f $(foreach p,$(PROTO_PACKAGES),$(PROTO_OUT)/$(p)/*_pb2.py $(PROTO_OUT)/$(p)/*_pb2_grpc.py $(PROTO_OUT)/$(p)/*_pb2.pyi $(PROTO_OUT)/$(p)/*_connect.py)
	$(call protoc-gen,$(PROTO_OUT))

proto-check: $(PROTO_DEPS) ## Fail when the committed stubs differ from what proto/ generates
	$(BIN)/buf lint $(PROTO_DIR)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(call protoc-gen,$$tmp) && \
	for pkg in $(PROTO_PACKAGES); do \
		diff -ru -x __init__.py -x __pycache__ "$$tmp/$$pkg" "$(PROTO_OUT)/$$pkg" || { \
			echo "$(PROTO_OUT)/$$pkg differs from what $(PROTO_DIR)/ generates: run \`make proto\`." >&2; exit 1; }; \
	done && echo "proto-check: stubs match $(PROTO_DIR)/"

# --- The TypeScript example: proto/ -> committed TypeScript in clients/examples/typescript -------
# buf runs the generator that the example's package-lock.json pins (protoc-gen-es, from its
# node_modules), so these two need Node.js and npm, which the rest of `make test` does not: the
# example's test (tests/integration/clients) runs proto-ts-check where npm is installed.
TS_EXAMPLE := clients/examples/typescript
TS_GEN := src/gen
# npm writes node_modules/.package-lock.json on every install: npm ci runs when the lock changed.
TS_MODULES := $(TS_EXAMPLE)/node_modules/.package-lock.json

$(TS_MODULES): $(TS_EXAMPLE)/package-lock.json
	cd $(TS_EXAMPLE) && npm ci

.PHONY: proto-ts proto-ts-check

proto-ts: $(PROTO_DEPS) $(TS_MODULES) ## Regenerate the TypeScript example's code from proto/ (needs npm)
	cd $(TS_EXAMPLE) && $(abspath $(BIN))/buf generate

proto-ts-check: $(PROTO_DEPS) $(TS_MODULES) ## Fail when the TypeScript example's code differs from what proto/ generates (needs npm)
	@tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	(cd $(TS_EXAMPLE) && $(abspath $(BIN))/buf generate --output "$$tmp") && \
	diff -ru "$$tmp/$(TS_GEN)" "$(TS_EXAMPLE)/$(TS_GEN)" || { \
		echo "$(TS_EXAMPLE)/$(TS_GEN) differs from what $(PROTO_DIR)/ generates: run \`make proto-ts\`." >&2; exit 1; } && \
	echo "proto-ts-check: $(TS_EXAMPLE)/$(TS_GEN) matches $(PROTO_DIR)/"
