# AutoInfraGuard. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV ?= .venv
PY := $(VENV)/bin/python
INFRA := infra/local/infra.sh
PYTEST_ARGS ?=
STAMP := $(VENV)/.installed
PYSTAMP := $(VENV)/.python-installed

# The local secrets: yours when set, else the ones the local infra made for this machine (kept in its
# state dir). Everything make runs gets them from the environment.
ifeq ($(origin AIG_REDIS_PASSWORD),undefined)
AIG_REDIS_PASSWORD := $(shell $(INFRA) secret redis)
endif
ifeq ($(origin AIG_POSTGRES_PASSWORD),undefined)
AIG_POSTGRES_PASSWORD := $(shell $(INFRA) secret postgres)
endif
# The keys that sign commands: the guard's own, and a person's (risky commands need the operator's).
ifeq ($(origin AIG_COMMAND_KEY),undefined)
AIG_COMMAND_KEY := $(shell $(INFRA) secret command)
endif
ifeq ($(origin AIG_OPERATOR_KEY),undefined)
AIG_OPERATOR_KEY := $(shell $(INFRA) secret operator)
endif
export AIG_REDIS_PASSWORD AIG_POSTGRES_PASSWORD AIG_COMMAND_KEY AIG_OPERATOR_KEY

.PHONY: help install infra-up infra-down infra-status topics lint test test-unit demo bench bench-bus bench-inference \
        bench-drift bench-logclassifier bench-healer bench-pipeline soak \
        image compose-up compose-down clean

help: ## List the targets
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(PYSTAMP): pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e ".[dev,embeddings,bench]"
	touch $(PYSTAMP)

$(STAMP): $(PYSTAMP)
	$(INFRA) install
	touch $(STAMP)

install: $(STAMP) ## Install Debian packages, the Kafka jars and the Python environment (.venv)

infra-up: $(STAMP) ## Start Kafka, PostgreSQL, Redis, Prometheus and a Docker engine on 127.0.0.1
	$(INFRA) up
	$(PY) -m services.common.topics
	$(PY) -c "from services.common.db import migrate; from services.common.connections import postgres_conninfo as c; from services.common.settings import CommonSettings as S; print('migrations applied:', migrate(c(S())))"

infra-down: ## Stop the local infrastructure
	$(INFRA) down

infra-status: ## Show what of the local infrastructure runs
	$(INFRA) status

topics: $(STAMP) ## Create every Kafka topic of schemas/topics.yaml (idempotent)
	$(PY) -m services.common.topics

lint: $(PYSTAMP) ## ruff (rules and format), mypy and the import contracts (no service imports another); Python only
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy services loadgen bench tests kit
	$(VENV)/bin/lint-imports

test: $(STAMP) ## Run every test (unit + integration on real Kafka, PostgreSQL, Redis, Docker); starts what is missing
	$(INFRA) up
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-unit: $(PYSTAMP) ## Run the fast unit tests only (no infrastructure)
	$(PY) -m pytest tests/unit $(PYTEST_ARGS)

demo: $(STAMP) ## The closed-loop demo: infrastructure, every service, traffic, faults, detection and healing
	$(INFRA) up
	$(PY) -m loadgen demo

bench: bench-bus bench-inference bench-drift bench-logclassifier bench-healer ## Every benchmark except the pipeline's maximum rate (about 10 minutes)

bench-bus: $(STAMP) ## Codec records/s and bus pass-through vs bare confluent-kafka (ratio)
	$(INFRA) up kafka
	$(PY) -m bench.common.codec_throughput
	$(PY) -m bench.common.bus_throughput

bench-inference: $(STAMP) ## /predict p50/p99 at 500 requests/s and batch rows/s
	$(PY) -m bench.inference.predict_latency

bench-drift: $(STAMP) ## Drift detectors on streams with known change points and on seasonal traffic
	$(PY) -m bench.drift.evaluate --quick
	$(PY) -m bench.drift.seasonal --seeds 2 --days 3
	$(PY) -m bench.drift.throughput
	$(PY) -m bench.drift.checkpoint_cost

bench-logclassifier: $(STAMP) ## Log lines/s classified, warm template cache and all-new templates; macro-F1
	$(PY) -m bench.logclassifier.throughput
	$(PY) -m services.logclassifier.cli evaluate

bench-healer: $(STAMP) ## Healer decisions/s and an incident storm
	$(INFRA) up kafka postgres redis
	$(PY) -m bench.healer.healer_bench

bench-pipeline: $(STAMP) ## The pipeline's maximum sustained rate with p99 end-to-end latency under 1 s (long)
	$(INFRA) up
	$(PY) -m bench.pipeline.max_rate

SOAK_ARGS ?= --minutes 30

soak: $(STAMP) ## Tests marked slow, then every service for 30 min at a steady rate: memory trend and lag, PASS/FAIL (SOAK_ARGS=...)
	$(INFRA) up
	$(PY) -m pytest -m slow $(PYTEST_ARGS)
	$(PY) -m bench.soak $(SOAK_ARGS) --out var/soak.json

image: ## Build the service image for docker compose (needs a Docker engine)
	$(INFRA) up docker
	bash infra/docker/build.sh

compose-up: image ## The full stack with docker compose
	docker-compose up -d

compose-down: ## Stop the compose stack
	docker-compose down

clean: ## Remove caches (not the infrastructure state)
	rm -rf .pytest_cache .mypy_cache .ruff_cache
