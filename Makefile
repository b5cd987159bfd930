# Medallion lakehouse on Airflow 3 + Spark 4 + Delta Lake. `make help` lists the targets.
SHELL := /bin/bash
.DEFAULT_GOAL := help
PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cksum requirements.txt | cut -d' ' -f1)
RUN := scripts/with-env
SF ?= 0.01
DATE ?= $(shell date -u -d yesterday +%F)
PIPELINE ?= inventory
DAG ?= $(PIPELINE)_lakehouse
DROPS_SF ?= 1
FILE_PIPELINES := returns media
PYTEST_ARGS ?=

.PHONY: help venv services seed activity airflow-db airflow monitor report demo returns-demo databricks-demo export-job test test-all test-unit test-e2e chromium bench bench-scaling object-store cluster down clean lock lint

help: ## list the targets
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'
	@echo "  variables: SF=$(SF) (scale factor, 1 = full seed volume)  DATE=$(DATE) (logical date)"
	@echo "             PIPELINE=$(PIPELINE) (inventory | $(FILE_PIPELINES))  DROPS_SF=$(DROPS_SF) (file drops' scale)"
	@echo "             CONF='{\"tables\": [\"orders\"], \"mode\": \"full\"}' (demo: trigger params)"

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	rm -f $(VENV)/.installed-*; touch $(STAMP)

venv: $(STAMP) ## create the virtualenv from the pinned requirements.txt

services: venv ## start the embedded PostgreSQL and the local Spark Connect server
	scripts/localpg.sh up
	scripts/localspark.sh up

activity: services ## source activity (inserts/updates/deletes) inside the window the run for DATE reads
	$(RUN) python -m seed activity --run-date $(DATE)

airflow-db: services ## migrate the Airflow metadata DB (in the embedded PostgreSQL)
	$(RUN) airflow db migrate > .local/airflow-db-migrate.log 2>&1 || { tail -20 .local/airflow-db-migrate.log; exit 1; }

airflow: services ## start the real Airflow services (UI on localhost:8080, LocalExecutor); login printed
	$(RUN) python -m seed --sf $(SF) --if-missing
	scripts/localairflow.sh up

seed: services ## create and seed the source database at scale factor SF
	$(RUN) python -m seed --sf $(SF)

REPORT = $(RUN) python -m lakehouse_airflow.run_job report --lakehouse-root "$${LAKEHOUSE_ROOT:-.local/lakehouse}" --dag-id $(1) 2>/dev/null

monitor: services ## ETL monitor: run summary + current failures (VIEW=status|failures|watermarks, DAG=...)
	$(RUN) python -m lakehouse_airflow.monitor $(VIEW) $(if $(DAG),--dag-id $(DAG))

report: services ## per-table summary of the latest run, read back from the audit log
	@$(call REPORT,$(DAG))

define DEMO_RUN
	@mkdir -p .local/logs
	$(if $(filter s3a://%,$(LAKEHOUSE_ROOT) $(LAKEHOUSE_FILES_ROOT)),scripts/locals3.sh up)
	@echo "running airflow dags test $(1) $(DATE) (log: .local/logs/demo-$(1)-$(DATE).log)"
	@$(RUN) airflow dags test $(if $(CONF),--conf '$(CONF)') $(1) $(DATE) > .local/logs/demo-$(1)-$(DATE).log 2>&1; rc=$$?; \
	  $(call REPORT,$(1)); rep=$$?; \
	  if [ $$rc -ne 0 ] || [ $$rep -ne 0 ]; then echo "demo: run failed (see .local/logs/demo-$(1)-$(DATE).log)"; exit 1; fi
endef

# the inventory pipeline reads the seeded database; a file pipeline gets a day of generated drops
demo: $(if $(filter $(FILE_PIPELINES),$(PIPELINE)),services,seed) airflow-db ## set up everything, run PIPELINE's DAG end to end for DATE, print the per-table summary (LAKEHOUSE_ROOT=s3a://lakehouse/demo: on the object store)
	$(if $(filter $(FILE_PIPELINES),$(PIPELINE)),$(RUN) python -m seed $(PIPELINE) --day $(DATE) --sf $(DROPS_SF))
	$(call DEMO_RUN,$(DAG))

returns-demo: ## the returns pipeline (JSON lines + CSV drops): make demo PIPELINE=returns
	$(MAKE) demo PIPELINE=returns

databricks-demo: seed airflow-db ## the same DAG on the Databricks backend, against the local Databricks emulator
	scripts/databricks_demo.sh $(DAG) $(DATE)

export-job: venv ## the pipeline as a native Databricks job: Jobs API JSON + Asset Bundle in build/databricks (ENV=prod: one env)
	$(RUN) python -m lakehouse_airflow.databricks.job_export $(if $(ENV),--env $(ENV))

test: venv chromium ## the test suite CI runs, e2e included (starts PostgreSQL, Spark, S3, Airflow services itself); long scenarios aside
	$(RUN) python -m pytest -m "not long" $(PYTEST_ARGS)

test-all: venv chromium ## everything: make test plus the long scenarios (standalone cluster, S3 server basics, native job, media pipeline, file and maintenance DAGs on S3, history, hourly, per_task/serverless Databricks modes)
	$(RUN) python -m pytest $(PYTEST_ARGS)

test-e2e: venv chromium ## the real Airflow services suite only (REST API + headless Chromium)
	$(RUN) python -m pytest tests/e2e $(PYTEST_ARGS)

chromium: ## install Debian's headless chromium if missing (the UI test needs it)
	scripts/ensure_chromium.sh

test-unit: venv ## the unit tier only (tests/unit: no service is started)
	$(RUN) python -m pytest tests/unit $(PYTEST_ARGS)

BENCH_SF = $(if $(filter command line,$(origin SF)),$(SF),1)
bench: services airflow-db ## benchmarks at SF (default 1): COPY vs bronze, whole DAG per layer (local disk and S3), DR, file drops vs pyarrow, incremental vs full, CDC vs incremental and its latency
	$(RUN) python -m benchmarks.bronze --sf $(BENCH_SF)
	scripts/locals3.sh up
	$(RUN) python -m benchmarks.pipeline --sf $(BENCH_SF) --s3 s3a://lakehouse/bench-dag --cluster
	$(RUN) python -m benchmarks.dr --sf $(BENCH_SF) --root s3a://lakehouse/bench-dag
	$(RUN) python -m benchmarks.files
	$(RUN) python -m benchmarks.compute
	$(RUN) python -m benchmarks.incremental --sf $(BENCH_SF)
	$(RUN) python -m benchmarks.cdc --sf $(BENCH_SF)

bench-scaling: services airflow-db ## the scaling curve: full + incremental DAG runs at SF 0.1, 1 and 10 side by side (~1 h; table on stdout, plot docs/img/scaling.png)
	$(RUN) python -m benchmarks.scaling --plot docs/img/scaling.png

lint: venv ## ruff + mypy
	$(RUN) ruff check .
	$(RUN) mypy

object-store: venv ## the S3-compatible object store (SeaweedFS, built once from the Go module proxy) on 127.0.0.1:18333
	scripts/locals3.sh up

cluster: venv ## a Spark standalone cluster (master + 2 workers) as the Spark server's master: jobs run on its executors
	scripts/localcluster.sh up
	@url=$$(scripts/localcluster.sh url); \
	  if [ "$$(cat .local/spark/connect.master 2>/dev/null)" != "$$url" ]; then scripts/localspark.sh down; fi; \
	  LAKEHOUSE_SPARK_MASTER=$$url scripts/localspark.sh up

down: ## stop the Airflow services, the local Spark server and cluster, the object store and PostgreSQL
	-scripts/localairflow.sh down
	-scripts/localspark.sh down
	-scripts/localcluster.sh down
	-scripts/locals3.sh down
	-scripts/localpg.sh down

clean: down ## stop services and delete local state (database, lakehouse, Airflow home)
	rm -rf .local

lock: ## re-resolve requirements.in into requirements.txt
	rm -rf /tmp/lakehouse-lock && $(PYTHON) -m venv /tmp/lakehouse-lock
	/tmp/lakehouse-lock/bin/pip install -q -r requirements.in
	/tmp/lakehouse-lock/bin/pip freeze > requirements.txt
