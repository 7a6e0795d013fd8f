# Developer and CI entry points. `make` (or `make help`) lists the targets.
#
# Everything runs from the project virtualenv in .venv, (re)installed only when
# pyproject.toml changes. KAFKA_BOOTSTRAP_SERVERS passes through to every command:
#   make test KAFKA_BOOTSTRAP_SERVERS=127.0.0.1:19092   # use a broker you already run

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
OMS := $(BIN)/oms
# The peers' own virtualenv (quix-streams pins older confluent-kafka and pydantic than ours).
BENCH_VENV := .venv-bench
BENCH_PINS = $$($(PYTHON) -c 'import tomllib; print(" ".join(tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["bench"]))')

ifdef KAFKA_BOOTSTRAP_SERVERS
export KAFKA_BOOTSTRAP_SERVERS
endif

# A tier with no tests yet passes: its directory may not exist in a fresh checkout (git
# keeps no empty dirs), and pytest exits 5 when it collects nothing.
define pytest_tier
	@if [ ! -d $(1) ]; then echo "($(1): no tests yet)"; else \
		echo "$(BIN)/pytest $(1) -q"; \
		$(BIN)/pytest $(1) -q || { rc=$$?; [ $$rc -eq 5 ] && echo "($(1): no tests yet)" || exit $$rc; }; \
	fi
endef

.PHONY: help venv broker-fetch broker-start broker-stop broker-status broker-reset topics \
	lint test test-unit test-integration test-e2e demo soak bench bench-peers bytecode clean

help: ## list the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-z0-9-]+:.*## / {printf "  %-17s %s\n", $$1, $$2}' \
		$(MAKEFILE_LIST)

venv: $(STAMP) ## create .venv and install the project (again only when pyproject.toml changes)

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

broker-fetch: venv ## download the Kafka jars (once; needs Java 17 and Maven)
	$(OMS) broker fetch

broker-start: venv ## start the local Kafka broker in the background
	$(OMS) broker start

broker-stop: venv ## stop the local Kafka broker
	$(OMS) broker stop

broker-status: venv ## is the local Kafka broker running?
	$(OMS) broker status

broker-reset: venv ## stop the local Kafka broker and delete its topics
	$(OMS) broker reset

topics: venv ## create the project's topics on the broker
	$(OMS) topics create

lint: venv ## ruff, ruff format --check, mypy and the import contracts
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

test-unit: venv ## unit tests (no broker)
	$(call pytest_tier,tests/unit)

test-integration: venv ## integration tests (start a broker on 127.0.0.1:39092 if needed)
	$(call pytest_tier,tests/integration)

test-e2e: venv ## end-to-end tests (the project's processes)
	$(call pytest_tier,tests/e2e)

test: bytecode lint test-unit test-integration test-e2e ## lint and all three test tiers (what CI runs)

demo: venv bytecode ## run the demo (on a terminal it stays up for a look; options: make demo ARGS="--orders 50")
	$(OMS) demo $(ARGS)

# Start-up is measured (a writer's restart) and paid at every SIGKILL: compile the project's
# bytecode first. An editable install leaves it to the first import, and with
# PYTHONDONTWRITEBYTECODE set (or after a checkout made the caches stale) every process
# compiled every module again: ~1.7 s of each process start on the 2-core VM.
bytecode: venv ## compile the project's bytecode (quick when it is fresh)
	$(BIN)/python -m compileall -q -j 0 streams connectors simulators devkit bench > /dev/null

soak: venv bytecode ## chaos soak: 1,000 orders, provider faults, SIGKILLs, a broker outage; audit table (ARGS="--orders 200")
	$(OMS) soak $(ARGS)

bench: venv bench-peers bytecode ## run the benchmarks (write side, replay, quix-streams and Faust peers; journeys; commit cost; the writer's CPU per step in memory; HTTP path; DOM; two of each; growth) - see BENCHMARKS.md
	$(BIN)/python -m bench
	$(BIN)/python -m bench.journeys
	$(BIN)/python -m bench.commit_cost
	$(BIN)/python -m bench.flow_cost
	$(BIN)/python -m bench.append_cost
	$(BIN)/python -m bench.http_path
	$(BIN)/python -m bench.dom
	$(BIN)/python -m bench.scale
	$(BIN)/python -m bench.growth

bench-peers: $(BENCH_VENV)/.installed ## install the benchmark's peers (quix-streams) into .venv-bench

$(BENCH_VENV)/.installed: pyproject.toml
	test -x $(BENCH_VENV)/bin/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --quiet --disable-pip-version-check $(BENCH_PINS)
	touch $@

clean: ## remove caches and build output (keeps .venv and the broker: see broker-reset)
	rm -rf .mypy_cache .ruff_cache .pytest_cache .hypothesis build dist *.egg-info .oms
	find . -path ./$(VENV) -prune -o -name __pycache__ -type d -exec rm -rf {} +
