# batchplane — the targets users and CI call.
SHELL := /bin/bash
# The Python that Lambda runs (template.yaml: Globals Runtime python<PYTHON_VERSION>; a test keeps them equal). Every
# virtualenv and `sam build` use it, so what is tested locally is what Lambda runs.
PYTHON_VERSION := 3.13
# PY: python<PYTHON_VERSION> from PATH, else the newest pyenv install of it (pyenv's default may be another version,
# and then its python<PYTHON_VERSION> shim answers "command not found"). Either way the interpreter's own path, so
# that PATH can be pointed at it for `sam build`. Override with `make PY=/path/to/python<PYTHON_VERSION>`.
ifeq ($(origin PY),undefined)
PY := $(shell python$(PYTHON_VERSION) -c 'import sys; print(sys.executable)' 2>/dev/null || { \
        version=$$(pyenv versions --bare 2>/dev/null | grep -E '^$(subst .,\.,$(PYTHON_VERSION))(\.[0-9]+)?$$' | sort -V | tail -1); \
        test -n "$$version" && PYENV_VERSION=$$version pyenv which python$(PYTHON_VERSION); \
    } 2>/dev/null)
endif
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
# sam finds the Python it builds with by name (python3.13) on PATH: PY's folder goes first.
template build deploy: export PATH := $(if $(PY),$(patsubst %/,%,$(dir $(PY))):)$(PATH)

.PHONY: install browser lint typecheck unit test template build deploy bench demo clean

# Each virtualenv is made by PY and stamped with the Python version it runs: one made by another Python (say a
# python3.11 one left on a dev machine) has no stamp, so it is made again from scratch, and everything in it reinstalled.
%/.python-$(PYTHON_VERSION):
	@test -n "$(PY)" || { echo "error: no Python $(PYTHON_VERSION) found: put python$(PYTHON_VERSION) on PATH," \
	    "install it with pyenv (pyenv install $(PYTHON_VERSION)) or run make PY=/path/to/python$(PYTHON_VERSION)" >&2; exit 1; }
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, "$(PYTHON_VERSION)".split("."))))' \
	    || { echo "error: PY=$(PY) is not Python $(PYTHON_VERSION)" >&2; exit 1; }
	rm -rf $*
	$(PY) -m venv $*
	$*/bin/pip install --quiet --upgrade pip
	touch $@

# Two steps: `make demo` needs only the runtime and the local stack (.[local]); `make test` adds the development
# toolchain (.[dev]: linters, type checker, stubs, test tools) on top, in the same virtualenv.
$(BIN)/.installed-local: $(VENV)/.python-$(PYTHON_VERSION) pyproject.toml layers/batchplane/requirements.txt
	$(BIN)/pip install --quiet -e '.[local]'
	touch $@

$(BIN)/.installed: $(BIN)/.installed-local
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

$(SAM_VENV)/.installed: $(SAM_VENV)/.python-$(PYTHON_VERSION)
	$(SAM_VENV)/bin/pip install --quiet 'aws-sam-cli>=1.150,<2'
	touch $@

$(CHECKOV_VENV)/.installed: $(CHECKOV_VENV)/.python-$(PYTHON_VERSION)
	$(CHECKOV_VENV)/bin/pip install --quiet 'checkov>=3.2,<4'
	touch $@

$(BENCH_VENV)/.installed: $(BENCH_VENV)/.python-$(PYTHON_VERSION)
	$(BENCH_VENV)/bin/pip install --quiet 'snakemake>=8,<10'
	touch $@

install: $(BIN)/.installed $(SAM_VENV)/.installed $(CHECKOV_VENV)/.installed

# The console's browser tests (tests/e2e/test_console.py) drive Debian's chromium through Playwright: installed from
# the distribution's packages when missing (Playwright's own browser download is never used). BROWSER overrides it.
BROWSER ?= /usr/bin/chromium
browser:
	@test -x $(BROWSER) || { \
	    if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }
	@test -x $(BROWSER) || { echo "error: no browser at $(BROWSER) (apt-get install chromium)" >&2; exit 1; }

lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: $(BIN)/.installed
	$(BIN)/mypy

template: install
	$(BIN)/cfn-lint template.yaml
	$(SAM) validate --lint --template template.yaml
	$(CHECKOV_VENV)/bin/checkov --config-file .checkov.yaml

test: install browser lint typecheck template
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
