"""The whole DAG through `airflow dags test` on real PostgreSQL + Spark + Delta (small scale)."""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
import yaml
from conftest import IT_SCHEMA, ROOT, sh
from pyspark.sql import functions as F

from spark_jobs.lib.bronze import METADATA_COLUMNS

pytestmark = pytest.mark.integration
SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
DATE = "2026-11-20"


def _pipeline_dir(tmp: Path, name: str, mutate=None) -> Path:  # noqa: ANN001
    """The shipped pipeline pointed at the integration schema, with retries off (fast failures)."""
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["source"]["schema"] = IT_SCHEMA
    raw["retries"] = 0
    if mutate:
        mutate(raw)
    folder = tmp / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(raw))
    return folder


def _dags_test(env: dict[str, str], pipelines: Path, lake: Path, dag_id: str, extra_env=None):  # noqa: ANN001
    run_env = {**env, "LAKEHOUSE_PIPELINES_DIR": str(pipelines), "LAKEHOUSE_ROOT": str(lake), **(extra_env or {})}
    return sh(["airflow", "dags", "test", dag_id, DATE], env=run_env, check=False, timeout=1200)


def _source_counts(dsn: str) -> dict[str, int]:
    tables = yaml.safe_load(SHIPPED.read_text())["tables"]
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {IT_SCHEMA}.{t}").fetchone()[0] for t in tables}


def _audit(spark, lake: Path):  # noqa: ANN001
    return spark.read.format("delta").load(str(lake / "inventory_bronze" / "bz_audit_log"))


def _bronze(spark, lake: Path, table: str):  # noqa: ANN001
    return spark.read.format("delta").load(str(lake / "inventory_bronze" / f"bz_{table}"))


def _version(spark, lake: Path, table: str) -> int:  # noqa: ANN001
    path = lake / "inventory_bronze" / f"bz_{table}"
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()[0]["version"]


def _runs(spark, lake: Path) -> list[str]:  # noqa: ANN001
    rows = _audit(spark, lake).groupBy("job_run_id").agg(F.min("load_timestamp").alias("t")).orderBy("t").collect()
    return [r["job_run_id"] for r in rows]


def test_full_run_rerun_and_one_missing_table(stack, spark, source_dsn, tmp_path) -> None:  # noqa: ANN001
    lake = tmp_path / "lake"
    pipelines = _pipeline_dir(tmp_path, "inventory")
    counts = _source_counts(source_dsn)
    assert len(counts) == 10

    first = _dags_test(stack, pipelines, lake, "inventory_lakehouse")
    assert first.returncode == 0, first.stdout[-4000:]
    (run1,) = _runs(spark, lake)
    for table, n in counts.items():
        bronze = _bronze(spark, lake, table)
        assert bronze.count() == n, table
        assert bronze.where(F.col("_batch_id") != run1).count() == 0
        nulls = bronze.select([F.sum(F.col(c).isNull().cast("int")).alias(c) for c in METADATA_COLUMNS]).first()
        assert all(nulls[c] == 0 for c in METADATA_COLUMNS), (table, nulls)
        assert bronze.where(F.col("_logical_date") != F.lit(DATE).cast("date")).count() == 0
    audit1 = _audit(spark, lake).where(F.col("job_run_id") == run1).collect()
    assert sorted(r["source_table"] for r in audit1) == sorted(f"{IT_SCHEMA}.{t}" for t in counts)
    assert {r["status"] for r in audit1} == {"SUCCESS"}
    assert all(r["row_count"] == r["source_row_count"] == counts[r["source_table"].split(".")[1]] for r in audit1)
    before = {t: _version(spark, lake, t) for t in counts}
    returns_before = _bronze(spark, lake, "returns").collect()

    # secrets never reach task logs, rendered templates or XCom
    password = psycopg.conninfo.conninfo_to_dict(source_dsn)["password"]
    logs = "".join(p.read_text(errors="ignore") for p in Path(stack["AIRFLOW_HOME"], "logs").rglob("*") if p.is_file())
    assert password not in logs and password not in first.stdout + first.stderr
    airflow_dsn = stack["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg.connect(airflow_dsn) as conn:
        rendered = conn.execute("SELECT rendered_fields::text FROM rendered_task_instance_fields").fetchall()
        xcoms = conn.execute("SELECT value::text FROM xcom").fetchall()
    assert rendered and not any(password in r[0] for r in rendered)
    assert not any(password in (x[0] or "") for x in xcoms)

    # second run with `returns` gone from the source: the other nine reload, returns is untouched
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {IT_SCHEMA}.returns RENAME TO returns_hidden")
    try:
        second = _dags_test(stack, pipelines, lake, "inventory_lakehouse")
    finally:
        with psycopg.connect(source_dsn, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE {IT_SCHEMA}.returns_hidden RENAME TO returns")
    assert second.returncode != 0, "a run with a failed table must end failed"
    run2 = _runs(spark, lake)[-1]
    assert run2 != run1
    audit2 = {r["source_table"].split(".")[1]: r for r in _audit(spark, lake).where(F.col("job_run_id") == run2).collect()}
    assert len(audit2) == 10
    assert audit2["returns"]["status"] == "FAILED"
    assert "check 'table exists' failed" in audit2["returns"]["error_details"]
    for table, n in counts.items():
        if table == "returns":
            assert _version(spark, lake, table) == before[table]
            assert _bronze(spark, lake, table).collect() == returns_before
            continue
        assert audit2[table]["status"] == "SUCCESS", (table, audit2[table]["error_details"])
        assert _bronze(spark, lake, table).count() == n  # rerun: same counts, no duplicates
        assert _version(spark, lake, table) == before[table] + 1


def _bad_input_dir(tmp: Path) -> Path:
    def one_table(dag_id: str, conn_id: str, source: str, table: str = "warehouses"):  # noqa: ANN202
        def mutate(raw: dict) -> None:
            raw["dag_id"] = dag_id
            raw["source"]["conn_id"] = conn_id
            spec = raw["tables"][table]
            spec["source"] = source
            raw["tables"] = {table: spec}
        return mutate

    _pipeline_dir(tmp, "auth", one_table("it_bad_auth", "bad_password_source", "warehouses"))
    _pipeline_dir(tmp, "host", one_table("it_bad_host", "unreachable_source", "warehouses"))
    _pipeline_dir(tmp, "missing", one_table("it_missing", "inventory_source", "no_such_table"))
    return _pipeline_dir(tmp, "empty", one_table("it_empty", "inventory_source", "empty_warehouses"))


@pytest.mark.parametrize(
    ("dag_id", "message"),
    [
        ("it_bad_auth", "check 'connect' failed for connection 'bad_password_source': "),
        ("it_bad_host", "check 'connect' failed for connection 'unreachable_source': "),
        ("it_missing", "check 'table exists' failed: it_src.no_such_table not found"),
        ("it_empty", "check 'not empty' failed: it_src.empty_warehouses has no rows"),
    ],
)
def test_bad_input_gives_clear_error_audit_row_and_no_table(stack, spark, source_dsn, tmp_path, dag_id, message):  # noqa: ANN001
    lake = tmp_path / "lake"
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {IT_SCHEMA}.empty_warehouses (LIKE {IT_SCHEMA}.warehouses)")
    good = psycopg.conninfo.conninfo_to_dict(source_dsn)
    wrong = f"postgresql://{good['user']}:not-the-password@{good['host']}:{good['port']}/{good['dbname']}"
    extra = {
        "AIRFLOW_CONN_BAD_PASSWORD_SOURCE": wrong,
        "AIRFLOW_CONN_UNREACHABLE_SOURCE": f"postgresql://u:secret-unused@127.0.0.1:1/{good['dbname']}",
    }
    try:
        result = _dags_test(stack, _bad_input_dir(tmp_path), lake, dag_id, extra)
    finally:
        with psycopg.connect(source_dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {IT_SCHEMA}.empty_warehouses")
    assert result.returncode != 0
    (row,) = _audit(spark, lake).collect()
    assert row["status"] == "FAILED"
    assert message in row["error_details"]
    if dag_id == "it_bad_auth":
        assert "password authentication failed" in row["error_details"]
    assert "not-the-password" not in row["error_details"]
    assert not (lake / "inventory_bronze" / "bz_warehouses").exists()
