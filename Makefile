# Haven — run `make help` for the list of targets.
SHELL := /bin/bash
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTHON := $(BIN)/python
PROTO_SRC := $(shell find protos -name '*.proto')
GEN_STAMP := gen/.stamp
T ?=

.DEFAULT_GOAL := help

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --disable-pip-version-check -r requirements.txt -r requirements-dev.txt 2>&1 | grep -v "is ignored: it is neither" || true
	$(BIN)/python -c "import flask, grpc, sqlalchemy, pika, playwright" # fail here if the install did not finish
	$(PYTHON) -c "import site, os; open(os.path.join(site.getsitepackages()[0], 'haven-dev.pth'), 'w').write(os.getcwd() + '\n' + os.path.join(os.getcwd(), 'gen') + '\n')"
	touch $@

venv: $(VENV)/.installed ## create the virtualenv and install dependencies

$(GEN_STAMP): $(VENV)/.installed $(PROTO_SRC)
	rm -rf gen && mkdir -p gen
	$(PYTHON) -m grpc_tools.protoc -Iprotos --python_out=gen --grpc_python_out=gen --pyi_out=gen $(PROTO_SRC)
	touch $@

protos: $(GEN_STAMP) ## generate Python code from protos/ into gen/ (gitignored)

migrate: protos ## run every service's migrations (embedded defaults unless env says otherwise)
	$(PYTHON) -m haven migrate

run: protos ## all-in-one: migrate, seed the demo school, serve on http://127.0.0.1:$${HAVEN_PORT:-8080}
	$(PYTHON) -m haven run

totp: protos ## print the demo DSL's current TOTP code
	$(PYTHON) -m haven totp

lint: protos ## ruff + import-linter architecture contracts
	$(BIN)/ruff check .
	$(BIN)/lint-imports

chart-check: venv ## render the Helm chart with every values file and validate it; validate skaffold.yaml
	$(PYTHON) deploy/chart_check.py

test: protos ## everything CI runs (make test T=path runs a part)
ifeq ($(T),)
	$(MAKE) lint
	$(MAKE) chart-check
	$(BIN)/pytest
else
	$(BIN)/pytest $(T)
endif

e2e: protos ## end-to-end tests only (distributed platform on PostgreSQL + RabbitMQ, browser)
	$(BIN)/pytest e2e-tests

bench: protos ## benchmarks, reported as ratios against the raw floor
	$(PYTHON) -m bench

clean: ## remove generated code and local data
	rm -rf gen var

.PHONY: help venv protos migrate run totp lint chart-check test e2e bench clean
