# batchplane — the targets users and CI call.
SHELL := /bin/bash
PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
SAM_VENV := .venv-sam
SAM := $(SAM_VENV)/bin/sam
# The bench's peers (Snakemake) live in their own virtualenv: never needed by `make test`, never in the dev extras.
BENCH_VENV := .venv-bench
# checkov (the IaC scanner) has its own virtualenv too: its dependencies would pin ours.
CHECKOV_VENV := .venv-checkov
export SAM_CLI_TELEMETRY := 0
# Fake credentials and a fixed region only where nothing real is reached (moto, the local stack, offline linters):
# `make build` and `make deploy` use your own profile, SSO session or environment.
OFFLINE_TARGETS := test unit template bench demo
$(OFFLINE_TARGETS): export AWS_DEFAULT_REGION ?= us-east-1
$(OFFLINE_TARGETS): export AWS_ACCESS_KEY_ID ?= testing
$(OFFLINE_TARGETS): export AWS_SECRET_ACCESS_KEY ?= testing

.PHONY: install lint typecheck unit test template build deploy bench demo clean

# Two steps: `make demo` needs only the runtime and the local stack (.[local]); `make test` adds the development
# toolchain (.[dev]: linters, type checker, stubs, test tools) on top, in the same virtualenv.
$(BIN)/.installed-local: pyproject.toml layers/batchplane/requirements.txt
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[local]'
	touch $@

$(BIN)/.installed: $(BIN)/.installed-local
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(SAM_VENV)/.installed:
	test -x $(SAM_VENV)/bin/python || $(PY) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/pip install --quiet --upgrade pip
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli>=1.150,<2'
	touch $@

$(CHECKOV_VENV)/.installed:
	test -x $(CHECKOV_VENV)/bin/python || $(PY) -m venv $(CHECKOV_VENV)
	$(CHECKOV_VENV)/bin/pip install --quiet --upgrade pip
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2,<4'
	touch $@

$(BENCH_VENV)/.installed:
	test -x $(BENCH_VENV)/bin/python || $(PY) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --upgrade pip
	$(BENCH_VENV)/bin/pip install --quiet 'snakemake>=8,<10'
	touch $@

install: $(BIN)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

template: install
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

test: install lint typecheck template
	$(BIN)/pytest

build: $(SAM_VENV)/.installed
	$(SAM) build --template template.yaml

deploy: build
	$(SAM) deploy --guided

bench: $(BIN)/.installed $(BENCH_VENV)/.installed
	SNAKEMAKE=$(BENCH_VENV)/bin/snakemake PYTHONPATH=layers/batchplane:local:. $(BIN)/python -m tests.perf.bench

demo: $(BIN)/.installed-local
	$(BIN)/python -m batchplane_local local demo --root .

clean:
	rm -rf .aws-sam .pytest_cache .mypy_cache .ruff_cache
