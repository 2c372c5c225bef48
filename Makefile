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

.PHONY: setup demo test test-browser test-citus test-chaos lint bench bi bi-setup clean

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

# Superset for the finance dashboards, in a venv of its own so that .venv stays lean,
# shared by every clone with the same pins (bi/venv_path.py says where)
BI_VENV  := $(shell $(PYTHON) bi/venv_path.py)
BI_STAMP := $(BI_VENV)/.installed

bi-setup: $(BI_STAMP)

$(BI_STAMP): bi/requirements.txt bi/constraints.txt
	mkdir -p $(dir $(BI_VENV))
	test -x $(BI_VENV)/bin/python || $(PYTHON) -m venv $(BI_VENV)
	$(BI_VENV)/bin/pip install -q --disable-pip-version-check -r bi/requirements.txt \
	  -c bi/constraints.txt 2>&1 | { grep -v '^WARNING: Location' || true; }
	touch $(BI_STAMP)

demo: setup
	$(BIN)/eod demo

# Superset on loopback over the configured database, or the demo's on the embedded one
bi: setup bi-setup
	$(BIN)/eod bi serve

# the browser tier (tests_py/browser) is part of the suite; Superset must be installed
test: setup bi-setup
	$(BIN)/pytest -q

test-browser: setup bi-setup
	$(BIN)/pytest -q tests_py/browser

# the Citus tier (a local cluster; Citus is built once with ../shared/vendor/citus when missing)
test-citus: setup
	$(BIN)/pytest -q -m citus

# the chaos tier (a private Postgres and nats-server it crashes; about 7 minutes)
test-chaos: setup
	$(BIN)/pytest -q -m chaos

lint: setup
	$(BIN)/eod lint

bench: setup
	$(BIN)/eod bench

clean:
	rm -rf $(VENV) .state target logs
