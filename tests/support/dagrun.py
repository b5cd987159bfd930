"""Helpers for the integration suites: run the DAG with `airflow dags test` and read what it wrote."""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

import psycopg
import yaml
from pyspark.sql import functions as F

from lakehouse_airflow.config import with_absolute_sql_paths
from support.env import IT_SCHEMA, ROOT, sh

SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
DATE = "2026-11-20"
LOAD_STAMPS = {"_load_timestamp", "_processing_timestamp", "recorded_at"}  # wall clocks of a load
PER_RUN = {"_batch_id", "_logical_date", "dq_score"}  # who loaded a row / per-run measures, not state


@dataclass
class FirstRun:
    """The shared full run of the shipped pipeline (see the `first` fixture in conftest)."""

    lake: Path
    pipelines: Path
    run_id: str
    counts: dict[str, int]
    output: str


def lake_copy(lake: Path, dest: Path) -> Path:
    """A private copy of a lakehouse (path-based Delta tables keep relative file paths), for a test
    that changes it: the shared run stays as it was whatever order the tests run in."""
    shutil.copytree(lake, dest)
    return dest


def pipeline_dir(tmp: Path, name: str, mutate=None) -> Path:
    """The shipped pipeline pointed at the integration schema, with retries off (fast failures)."""
    raw = with_absolute_sql_paths(yaml.safe_load(SHIPPED.read_text()), SHIPPED)
    raw["source"]["schema"] = IT_SCHEMA
    raw["retries"] = 0
    if mutate:
        mutate(raw)
    folder = tmp / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder


def dags_test(env: dict[str, str], pipelines: Path, lake: Path, dag_id: str, extra_env=None, args=(), date=DATE):
    run_env = {**env, "LAKEHOUSE_PIPELINES_DIR": str(pipelines), "LAKEHOUSE_ROOT": str(lake), **(extra_env or {})}
    return sh(["airflow", "dags", "test", *args, dag_id, date], env=run_env, check=False, timeout=1500)


def source_counts(dsn: str) -> dict[str, int]:
    tables = yaml.safe_load(SHIPPED.read_text())["tables"]
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {IT_SCHEMA}.{t}").fetchone()[0] for t in tables}


def read_audit(spark, lake: Path | str):
    """The audit log of a lakehouse on disk or on the object store (``s3a://`` root)."""
    return spark.read.format("delta").load(f"{lake}/inventory_bronze/bz_audit_log")


def read_bronze(spark, lake: Path, table: str):
    return spark.read.format("delta").load(str(lake / "inventory_bronze" / f"bz_{table}"))


def bronze_version(spark, lake: Path, table: str) -> int:
    path = lake / "inventory_bronze" / f"bz_{table}"
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()[0]["version"]


def runs(spark, lake: Path | str) -> list[str]:
    rows = read_audit(spark, lake).groupBy("job_run_id").agg(F.min("load_timestamp").alias("t")).orderBy("t").collect()
    return [r["job_run_id"] for r in rows]


def airflow_db(env: dict[str, str]) -> psycopg.Connection:
    """A connection to the Airflow metadata database of ``env``."""
    return psycopg.connect(env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", ""))


def ti_states(env: dict[str, str], run_id: str) -> dict[str, str]:
    with airflow_db(env) as conn:
        rows = conn.execute("SELECT task_id, state FROM task_instance WHERE run_id = %s", (run_id,)).fetchall()
    return dict(rows)


def asset_events(env: dict[str, str], run_id: str) -> dict[str, list[tuple[str, dict]]]:
    """Asset name -> [(emitting task id, event extra)] of the events a DAG run emitted."""
    with airflow_db(env) as conn:
        rows = conn.execute(
            "SELECT a.name, e.source_task_id, e.extra FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE e.source_run_id = %s ORDER BY e.id",
            (run_id,),
        ).fetchall()
    out: dict[str, list[tuple[str, dict]]] = {}
    for name, task_id, extra in rows:
        out.setdefault(name, []).append((task_id, extra if isinstance(extra, dict) else json.loads(extra)))
    return out


def ti_run_ids(env: dict[str, str], logical_date: str) -> list[str]:
    """Run ids of the DAG runs with this logical date, oldest first."""
    with airflow_db(env) as conn:
        rows = conn.execute(
            "SELECT run_id FROM dag_run WHERE logical_date::date = %s ORDER BY id", (logical_date,)
        ).fetchall()
    return [r[0] for r in rows]


def layer_snapshot(spark, lake: Path) -> dict[str, list]:
    """Full contents of every silver and gold table (quarantine: the first batch's slice)."""
    out = {}
    for layer in ("inventory_silver", "inventory_gold"):
        for path in sorted((lake / layer).iterdir()):
            if path.name == "dq_results":
                continue
            df = spark.read.format("delta").load(str(path))
            if path.name.endswith("_quarantine"):
                df = df.where(F.col("_batch_id") == runs(spark, lake)[0])
            out[f"{layer}.{path.name}"] = sorted(df.collect())
    return out


def lake_state(spark, lake: Path) -> dict[str, list]:
    """``state`` plus every bronze table (audit log and watermarks aside: per-run records): what two
    runs of the same source data on different backends or compute must agree on."""
    out = state(spark, lake)
    for path in sorted((lake / "inventory_bronze").iterdir()):
        if path.name not in ("bz_audit_log", "bz_watermarks"):
            out[f"inventory_bronze.{path.name}"] = rows(spark, path, PER_RUN | LOAD_STAMPS)
    return out


def read_silver(spark, lake: Path, name: str):
    return spark.read.format("delta").load(str(lake / "inventory_silver" / name))


def read_gold(spark, lake: Path, name: str):
    return spark.read.format("delta").load(str(lake / "inventory_gold" / name))


def rows(spark, path: Path, drop: set[str]) -> list:
    df = spark.read.format("delta").load(str(path))
    return sorted(map(tuple, df.drop(*[c for c in df.columns if c in drop]).collect()), key=repr)


def state(spark, lake: Path) -> dict[str, list]:
    """Full contents of every silver and gold table, without who-loaded-it columns (dq_results is
    a per-run record, not state: left out)."""
    out = {}
    for layer in ("inventory_silver", "inventory_gold"):
        for path in sorted((lake / layer).iterdir()):
            if path.name != "dq_results":
                out[f"{layer}.{path.name}"] = rows(spark, path, PER_RUN | LOAD_STAMPS)
    return out
