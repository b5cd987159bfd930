"""Bronze through the whole DAG (`airflow dags test`): loads, audit, secrets, bad input."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import psycopg
import pytest
from pyspark.sql import functions as F

from lakehouse_airflow.config import load_pipeline
from spark_jobs.transforms.bronze import METADATA_COLUMNS
from support.dagrun import (
    DATE,
    SHIPPED,
    dags_test,
    pipeline_dir,
    read_audit,
    read_bronze,
)
from support.env import IT_SCHEMA, ROOT


def test_bronze_loaded_and_audited(first, spark, source_dsn) -> None:
    lake, run1, counts = first.lake, first.run_id, first.counts
    assert len(counts) == 10
    for table, n in counts.items():
        bronze = read_bronze(spark, lake, table)
        assert bronze.count() == n, table
        assert bronze.where(F.col("_batch_id") != run1).count() == 0
        nulls = bronze.select([F.sum(F.col(c).isNull().cast("int")).alias(c) for c in METADATA_COLUMNS]).first()
        assert all(nulls[c] == 0 for c in METADATA_COLUMNS), (table, nulls)
        assert bronze.where(F.col("_logical_date") != F.lit(DATE).cast("date")).count() == 0
    # by key and content: every bronze row is its source row, column for column (no duplicate keys)
    cfg = load_pipeline(SHIPPED)
    with psycopg.connect(source_dsn) as conn:
        for table, settings in cfg.tables.items():
            columns = list(settings.columns)
            source = sorted(conn.execute(f"SELECT {', '.join(columns)} FROM {IT_SCHEMA}.{table}").fetchall(), key=repr)
            bronze = sorted((tuple(r) for r in read_bronze(spark, lake, table).select(*columns).collect()), key=repr)
            assert bronze == source, table
    audit1 = read_audit(spark, lake).where((F.col("job_run_id") == run1) & (F.col("layer") == "bronze")).collect()
    assert sorted(r["source_table"] for r in audit1) == sorted(f"{IT_SCHEMA}.{t}" for t in counts)
    assert {r["status"] for r in audit1} == {"SUCCESS"}
    assert all(r["row_count"] == r["source_row_count"] == counts[r["source_table"].split(".")[1]] for r in audit1)
    layers = read_audit(spark, lake).where(F.col("job_run_id") == run1).groupBy("layer", "status").count().collect()
    assert {(r["layer"], r["status"]): r["count"] for r in layers} == {
        ("bronze", "SUCCESS"): 10,
        ("silver", "SUCCESS"): 10,
        ("gold", "SUCCESS"): 6,
    }


def test_secrets_never_reach_logs_templates_or_xcom(first, stack, source_dsn, spark) -> None:
    """Nor the step results, the audit log, the monitor database or the Spark server's log."""
    password = psycopg.conninfo.conninfo_to_dict(source_dsn)["password"]
    pii_key = json.loads(stack["AIRFLOW_CONN_PII_HASH_KEY"])["password"]
    logs = "".join(p.read_text(errors="ignore") for p in Path(stack["AIRFLOW_HOME"], "logs").rglob("*") if p.is_file())
    results = "".join(p.read_text() for p in (first.lake / "_control").rglob("*.json"))
    audit = str(read_audit(spark, first.lake).collect())
    server_log = (ROOT / ".local" / "spark" / "connect.log").read_text(errors="ignore")
    monitor_dsn = stack["AIRFLOW_CONN_LAKEHOUSE_MONITOR"]
    with psycopg.connect(monitor_dsn) as conn:
        schema = "etl_monitor"
        tables = conn.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = %s AND table_type = 'BASE TABLE'",
            (schema,),
        ).fetchall()
        monitor = "".join(str(conn.execute(f'SELECT * FROM {schema}."{t[0]}"').fetchall()) for t in tables)
    assert results and audit and tables and "extract" in results  # the scan reads real content
    for secret in (password, pii_key):
        for where, text in (("step results", results), ("audit log", audit), ("Spark server log", server_log),
                            ("monitor database", monitor)):  # fmt: skip
            assert secret not in text, f"a secret is in the {where}"
    airflow_dsn = stack["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg.connect(airflow_dsn) as conn:
        rendered = conn.execute("SELECT rendered_fields::text FROM rendered_task_instance_fields").fetchall()
        xcoms = conn.execute("SELECT value::text FROM xcom").fetchall()
    assert rendered
    for secret in (password, pii_key):
        assert secret not in logs and secret not in first.output
        assert not any(secret in r[0] for r in rendered)
        assert not any(secret in (x[0] or "") for x in xcoms)


# generator rule (lakehouse_seed.dirty_rows) -> the silver rule that must catch exactly those rows
def _bad_input_dirs(tmp: Path) -> dict[str, Path]:
    def one_table(dag_id: str, conn_id: str, source: str, table: str = "warehouses"):
        def mutate(raw: dict) -> None:
            raw["dag_id"] = dag_id
            raw["source"]["conn_id"] = conn_id
            spec = raw["tables"][table]
            spec["source"] = source
            raw["tables"] = {table: spec}
            raw["gold"] = {"models": {}}

        return mutate

    return {  # one folder each: every `dags test` process parses only its own DAG
        "it_bad_auth": pipeline_dir(
            tmp / "auth", "auth", one_table("it_bad_auth", "bad_password_source", "warehouses")
        ),
        "it_bad_host": pipeline_dir(tmp / "host", "host", one_table("it_bad_host", "unreachable_source", "warehouses")),
        "it_missing": pipeline_dir(
            tmp / "missing", "missing", one_table("it_missing", "inventory_source", "no_such_table")
        ),
        "it_empty": pipeline_dir(tmp / "empty", "empty", one_table("it_empty", "inventory_source", "empty_warehouses")),
    }


BAD_INPUTS = {
    "it_bad_auth": "check 'connect' failed for connection 'bad_password_source': ",
    "it_bad_host": "check 'connect' failed for connection 'unreachable_source': ",
    "it_missing": "check 'table exists' failed: it_src.no_such_table not found",
    "it_empty": "check 'not empty' failed: it_src.empty_warehouses has no rows",
}


@pytest.fixture(scope="module")
def bad_runs(stack, source_dsn, tmp_path_factory) -> dict[str, tuple[object, Path]]:
    """The four one-table DAGs, each run by `airflow dags test` into its own lakehouse, concurrently
    (each run is mostly Airflow start-up): dag id -> (result, lake)."""
    tmp = tmp_path_factory.mktemp("bad")
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {IT_SCHEMA}.empty_warehouses (LIKE {IT_SCHEMA}.warehouses)")
    good = psycopg.conninfo.conninfo_to_dict(source_dsn)
    wrong = f"postgresql://{good['user']}:not-the-password@{good['host']}:{good['port']}/{good['dbname']}"
    extra = {
        "AIRFLOW_CONN_BAD_PASSWORD_SOURCE": wrong,
        "AIRFLOW_CONN_UNREACHABLE_SOURCE": f"postgresql://u:secret-unused@127.0.0.1:1/{good['dbname']}",
    }
    pipelines = _bad_input_dirs(tmp)
    try:
        with ThreadPoolExecutor(len(BAD_INPUTS)) as pool:
            futures = {d: pool.submit(dags_test, stack, pipelines[d], tmp / d / "lake", d, extra) for d in BAD_INPUTS}
            return {d: (f.result(), tmp / d / "lake") for d, f in futures.items()}
    finally:
        with psycopg.connect(source_dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {IT_SCHEMA}.empty_warehouses")


@pytest.mark.parametrize(("dag_id", "message"), list(BAD_INPUTS.items()))
def test_bad_input_gives_clear_error_audit_row_and_no_table(bad_runs, spark, dag_id, message):
    result, lake = bad_runs[dag_id]
    assert result.returncode != 0
    (row,) = read_audit(spark, lake).collect()
    assert row["status"] == "FAILED"
    assert message in row["error_details"]
    if dag_id == "it_bad_auth":
        assert "password authentication failed" in row["error_details"]
    assert "not-the-password" not in row["error_details"]
    assert not (lake / "inventory_bronze" / "bz_warehouses").exists()


def test_the_wrong_passwords_of_the_bad_credential_runs_leak_nowhere(bad_runs, stack, spark) -> None:
    """The password a run failed with is a secret too: not in the run's output, task logs, step
    results, audit rows, rendered templates or XCom."""
    airflow_dsn = stack["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    logs_root = Path(stack["AIRFLOW_HOME"], "logs")
    for dag_id, secret in (("it_bad_auth", "not-the-password"), ("it_bad_host", "secret-unused")):
        result, lake = bad_runs[dag_id]
        output = result.stdout + result.stderr
        logs = "".join(
            p.read_text(errors="ignore") for p in logs_root.rglob("*") if p.is_file() and f"dag_id={dag_id}" in str(p)
        )
        results = "".join(p.read_text() for p in (lake / "_control").rglob("*.json"))
        audit = str(read_audit(spark, lake).collect())
        with psycopg.connect(airflow_dsn) as conn:
            rendered = conn.execute(
                "SELECT rendered_fields::text FROM rendered_task_instance_fields WHERE dag_id = %s", (dag_id,)
            ).fetchall()
            xcoms = conn.execute("SELECT value::text FROM xcom WHERE dag_id = %s", (dag_id,)).fetchall()
        assert "check 'connect' failed" in output + logs and "connect" in audit  # the scan reads the failure
        for where, text in (("output", output), ("task logs", logs), ("step results", results), ("audit", audit),
                            ("rendered templates", str(rendered)), ("XCom", str(xcoms))):  # fmt: skip
            assert secret not in text, f"{dag_id}: the wrong password is in the {where}"
