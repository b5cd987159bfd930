"""Shared fixtures. Services are real: the project's embedded PostgreSQL and local Spark server."""

from __future__ import annotations

import os
import shlex
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
IT_SCHEMA = "it_src"
IT_SF = 0.002
MONITOR_DB = "lakehouse_ops_test"
pytest_plugins = ["databricks_emu"]  # the Databricks emulator fixtures (session-scoped)


def project_env() -> dict[str, str]:
    """The environment scripts/env.sh defines (connections, Airflow home, Spark remote)."""
    out = subprocess.run([str(ROOT / "scripts" / "env.sh")], check=True, capture_output=True, text=True).stdout
    env = dict(os.environ)
    script = out + "\nenv -0"
    dumped = subprocess.run(["bash", "-c", script], check=True, capture_output=True, env=env).stdout
    for item in dumped.split(b"\0"):
        if b"=" in item:
            k, v = item.decode().split("=", 1)
            env[k] = v
    return env


def sh(cmd: str | list[str], env: dict[str, str] | None = None, check: bool = True, timeout: int = 900):
    args = shlex.split(cmd) if isinstance(cmd, str) else cmd
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


@pytest.fixture(scope="session")
def stack() -> Iterator[dict[str, str]]:
    """PostgreSQL + Spark Connect up, Airflow DB migrated, integration schema seeded."""
    sh("scripts/localpg.sh up")
    sh("scripts/localspark.sh up")
    os.environ["LAKEHOUSE_OPS_DB"] = MONITOR_DB  # the suite's own ETL monitor, fresh per session
    sh(f"scripts/localpg.sh createdb {MONITOR_DB} airflow --fresh")
    env = project_env()
    sh("airflow db migrate", env=env)
    sh(["python", "-m", "seed", "--schema", IT_SCHEMA, "--sf", str(IT_SF)], env=env)
    os.environ.update({k: v for k, v in env.items() if k.startswith(("LAKEHOUSE_", "AIRFLOW_CONN_"))})
    yield env


@pytest.fixture(scope="session")
def spark(stack: dict[str, str]):
    from spark_jobs.runtime.session import get_spark

    return get_spark("tests")


@pytest.fixture(scope="session")
def source_dsn(stack: dict[str, str]) -> str:
    return stack["AIRFLOW_CONN_INVENTORY_SOURCE"]


@pytest.fixture(scope="session")
def first(stack, spark, source_dsn, tmp_path_factory):  # noqa: ANN001, ANN201
    """One full run of the shipped pipeline (bronze, silver, gold) shared by the integration suites.

    test_integration_rerun.py changes this lakehouse and therefore runs last (file order)."""
    from dagrun import FirstRun, dags_test, pipeline_dir, runs, source_counts

    tmp = tmp_path_factory.mktemp("full")
    pipelines = pipeline_dir(tmp, "inventory")
    result = dags_test(stack, pipelines, tmp / "lake", "inventory_lakehouse")
    assert result.returncode == 0, result.stdout[-4000:]
    (run_id,) = runs(spark, tmp / "lake")
    return FirstRun(tmp / "lake", pipelines, run_id, source_counts(source_dsn), result.stdout + result.stderr)
