"""Tiers by directory, and the shared fixtures. Services are real: the project's embedded
PostgreSQL and local Spark server, started on first use by the tiers that need them.

- ``unit/``         no service (``make test-unit``);
- ``spark/``        marker ``spark``: the local Spark server (and, where a test asks, PostgreSQL);
- ``integration/``  marker ``integration``: PostgreSQL + Spark + Airflow ``dags test``;
- ``e2e/``          marker ``e2e``: the real Airflow services.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from support.env import IT_SCHEMA, IT_SF, MONITOR_DB, project_env, sh

TESTS = Path(__file__).resolve().parent
TIER_MARKERS = {"spark": pytest.mark.spark, "integration": pytest.mark.integration, "e2e": pytest.mark.e2e}
# scenarios `make test` (and so CI, 90 minutes on 2 cores) leaves to `make test-all`: each re-proves,
# on other infrastructure or another pipeline, what a module in `make test` proves (docs/tests.md);
# a single scenario of a module in `make test` carries `@pytest.mark.long` itself
LONG = {
    "integration/test_spark_cluster.py",  # the standalone cluster (own master, workers, Spark server)
    "integration/test_object_store.py",  # the S3 server's basics; test_lakehouse_on_s3 runs the DAG there
    "integration/test_databricks_native_job.py",  # the exported job; test_databricks_emulated runs the DAG
    "integration/test_media_pipeline.py",  # a second file pipeline; test_file_sources runs returns
    "integration/test_file_sources_on_s3.py",  # the returns DAG on S3; test_file_sources + test_lakehouse_on_s3
    "integration/test_maintenance.py",  # the maintenance DAG on S3; test_dr runs its job on S3, spark/ the job
    "integration/test_history.py",  # scd2 through the jobs; spark/test_history_spark proves the transform
    "integration/test_hourly.py",  # the hourly/daily DAGs (~4 min); unit/test_hourly_dags + the spark tier stay
    "integration/test_databricks_modes.py",  # per_task + serverless DAGs (~10 min); shared/workflow DAGs stay
}
pytest_plugins = ["support.databricks_emu"]  # the Databricks emulator fixtures (session-scoped)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """The tier's marker, from the test's directory (so a unit test can never start a service)."""
    for item in items:
        where = Path(str(item.fspath)).resolve().relative_to(TESTS)
        if where.parts[0] in TIER_MARKERS:
            item.add_marker(TIER_MARKERS[where.parts[0]])
        if where.as_posix() in LONG:
            item.add_marker(pytest.mark.long)


@pytest.fixture(scope="session")
def spark_server() -> dict[str, str]:
    """The local Spark Connect server only (no PostgreSQL, no Airflow)."""
    sh("scripts/localspark.sh up")
    env = project_env()
    os.environ["LAKEHOUSE_SPARK_REMOTE"] = env["LAKEHOUSE_SPARK_REMOTE"]
    return env


@pytest.fixture(scope="session")
def spark(spark_server: dict[str, str]):
    from spark_jobs.runtime.session import get_spark

    return get_spark("tests")


@pytest.fixture(scope="session")
def stack(spark_server: dict[str, str]) -> Iterator[dict[str, str]]:
    """PostgreSQL + Spark Connect up, Airflow DB migrated, integration schema seeded."""
    sh("scripts/localpg.sh up")
    os.environ["LAKEHOUSE_OPS_DB"] = MONITOR_DB  # the suite's own ETL monitor, fresh per session
    sh(f"scripts/localpg.sh createdb {MONITOR_DB} airflow --fresh")
    env = project_env()
    sh("airflow db migrate", env=env)
    sh(["python", "-m", "seed", "--schema", IT_SCHEMA, "--sf", str(IT_SF)], env=env)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("LAKEHOUSE_", "AIRFLOW_CONN_"))})
    yield env


@pytest.fixture(scope="session")
def source_dsn(stack: dict[str, str]) -> str:
    return stack["AIRFLOW_CONN_INVENTORY_SOURCE"]


@pytest.fixture(scope="session")
def first(stack, spark, source_dsn, tmp_path_factory):
    """One full run of the shipped pipeline (bronze, silver, gold) shared by the integration suites.

    Read-only for its users: a test that changes a lakehouse works on ``support.dagrun.lake_copy``."""
    from support.dagrun import FirstRun, dags_test, pipeline_dir, runs, source_counts

    tmp = tmp_path_factory.mktemp("full")
    pipelines = pipeline_dir(tmp, "inventory")
    result = dags_test(stack, pipelines, tmp / "lake", "inventory_lakehouse")
    assert result.returncode == 0, result.stdout[-4000:]
    (run_id,) = runs(spark, tmp / "lake")
    return FirstRun(tmp / "lake", pipelines, run_id, source_counts(source_dsn), result.stdout + result.stderr)
