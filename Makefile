# The two commands a new user needs are `make demo` and `make test`; both set up first.
SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

# Prefect's settings are applied by the CLI and the tests (eod.config.apply_prefect_defaults)
export DBT_PROFILES_DIR ?= $(CURDIR)
export DO_NOT_TRACK ?= 1

.PHONY: setup demo test lint bench clean

GENERATED := eod/admin/generated/admin_pb2_grpc.py

setup: $(STAMP) $(GENERATED)

$(GENERATED): proto/admin.proto $(STAMP)
	$(BIN)/python -m eod.admin.codegen

$(STAMP): pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]' 2>&1 \
	  | { grep -v '^WARNING: Location' || true; }
	test -f profiles.yml || cp profiles.example.yml profiles.yml
	touch $(STAMP)

demo: setup
	$(BIN)/eod demo

test: setup
	$(BIN)/pytest -q

lint: setup
	$(BIN)/eod lint

bench: setup
	$(BIN)/eod bench

clean:
	rm -rf $(VENV) .state target logs
