"""Bronze transform and jobs on the real local Spark (Connect) with Delta."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from pyspark.sql import Row
from pyspark.testing import assertDataFrameEqual

from lakehouse_contract.specs import JobSpec
from spark_jobs.jobs import dispatch
from spark_jobs.storage.delta_io import STATS_COLUMNS, table_properties
from spark_jobs.storage.tables import bronze_table
from spark_jobs.transforms.bronze import METADATA_COLUMNS, with_bronze_metadata
from support.specs import job_argv, table_specs

LOAD_TS = dt.datetime(2026, 11, 23, 1, 2, 3)


def test_metadata_columns_appended_source_untouched(spark) -> None:
    df = spark.createDataFrame([Row(id=1, name=" a "), Row(id=2, name=None)])
    out = with_bronze_metadata(
        df, source_system="pg", batch_id="run-1", logical_date=dt.date(2026, 11, 23), load_timestamp=LOAD_TS
    )
    assert out.columns == ["id", "name", *METADATA_COLUMNS]
    expected = spark.createDataFrame(
        [
            (1, " a ", LOAD_TS, "pg", "run-1", dt.date(2026, 11, 23), "ACTIVE"),
            (2, None, LOAD_TS, "pg", "run-1", dt.date(2026, 11, 23), "ACTIVE"),
        ],
        "id long, name string, _load_timestamp timestamp, _source_system string, _batch_id string, "
        "_logical_date date, _record_status string",
    )
    assertDataFrameEqual(out.drop("_processing_timestamp"), expected)
    assert out.where("_processing_timestamp IS NULL").count() == 0


def _specs(tmp_path, table: str = "warehouses", **changes: object) -> dict[str, JobSpec]:
    """The shipped pipeline's specs of ``table`` under ``tmp_path``, reading it_src; full loads."""
    columns = WAREHOUSES if table == "warehouses" else {"product_id": "bigint"}
    return table_specs(table, str(tmp_path), columns=columns, load_mode="full", **changes)


WAREHOUSES = {"warehouse_id": "bigint", "warehouse_name": "string", "city": "string", "capacity": "int",
              "updated_at": "timestamp"}  # fmt: skip


def test_extract_then_write_bronze_then_failed_write_keeps_previous_version(spark, stack, tmp_path, monkeypatch):
    from lakehouse_airflow.operators.secrets import jdbc_env

    for k, v in jdbc_env("inventory_source").items():
        monkeypatch.setenv(k, v)
    specs = _specs(tmp_path, partition_column="warehouse_id", num_partitions=2,
                   stats_columns=("warehouse_id", "_logical_date"), source_system="pg")  # fmt: skip
    assert dispatch(job_argv(specs["extract"], "r1")) == 0
    assert dispatch(job_argv(specs["write_bronze"], "r1")) == 0
    target = bronze_table(str(tmp_path), "inventory_bronze", "warehouses")
    assert table_properties(spark, target)[STATS_COLUMNS] == "warehouse_id,_logical_date"
    first = target.read(spark).collect()  # collected: a lazy read would follow the table
    assert len(first) == 5 and {r["_batch_id"] for r in first} == {"r1"}
    version = target.latest_version(spark)
    # the local server writes Parquet's INT64 microsecond timestamps, not Spark's legacy INT96
    files = list(Path(target.path).glob("*.parquet"))
    assert files and {pq.read_schema(f).field("_load_timestamp").type.unit for f in files} == {"us"}

    # the same source again: extract reads nothing and names the batch bronze holds; no commit
    specs = _specs(tmp_path, source_system="pg")
    assert dispatch(job_argv(specs["extract"], "same")) == 0
    same = json.loads((tmp_path / "_control/step_results/t/same/warehouses/extract.json").read_text())["metrics"]
    assert (same["unchanged_since"], same["rows_read"], same["source_row_count"]) == ("r1", 0, 5)
    assert dispatch(job_argv(specs["write_bronze"], "same")) == 0
    assert target.latest_version(spark) == version

    # a second run (a forced reload: it reads) whose landing was tampered with (row count no
    # longer matches) must not write
    assert dispatch(job_argv(specs["extract"], "r2", mode="full")) == 0
    result = tmp_path / "_control/step_results/t/r2/warehouses/extract.json"
    doc = json.loads(result.read_text())
    doc["metrics"]["rows_read"] = 999
    result.write_text(json.dumps(doc))
    with pytest.raises(Exception, match="landing has 5 rows but extract recorded 999"):
        dispatch(job_argv(specs["write_bronze"], "r2", mode="full"))
    assert target.latest_version(spark) == version
    assert sorted(map(tuple, target.read(spark).collect())) == sorted(map(tuple, first))
    failed = json.loads((tmp_path / "_control/step_results/t/r2/warehouses/write_bronze.json").read_text())
    assert failed["status"] == "FAILED" and "999" in failed["error"]


def test_schema_drift_new_column_reaches_bronze_dropped_or_retyped_column_fails(spark, stack, tmp_path, monkeypatch):
    import psycopg

    from lakehouse_airflow.operators.secrets import jdbc_env

    for k, v in jdbc_env("inventory_source").items():
        monkeypatch.setenv(k, v)
    with psycopg.connect(stack["AIRFLOW_CONN_INVENTORY_SOURCE"], autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS it_drift CASCADE; CREATE SCHEMA it_drift")
        conn.execute("CREATE TABLE it_drift.warehouses AS SELECT * FROM it_src.warehouses")
        conn.execute("ALTER TABLE it_drift.warehouses ADD COLUMN region text DEFAULT 'west'")
    specs = _specs(tmp_path, source="it_drift.warehouses")
    assert dispatch(job_argv(specs["extract"], "r1")) == 0
    assert dispatch(job_argv(specs["write_bronze"], "r1")) == 0
    target = bronze_table(str(tmp_path), "inventory_bronze", "warehouses")
    assert {r["region"] for r in target.read(spark).collect()} == {"west"}
    extract = json.loads((tmp_path / "_control/step_results/t/r1/warehouses/extract.json").read_text())
    assert extract["metrics"]["schema_changes"] == "added region (text)"
    version = target.latest_version(spark)
    for change, message in (("ALTER COLUMN capacity TYPE text", "retyped capacity: contract int, source text"),
                            ("DROP COLUMN city", "dropped city")):  # fmt: skip
        with psycopg.connect(stack["AIRFLOW_CONN_INVENTORY_SOURCE"], autocommit=True) as conn:
            conn.execute(f"ALTER TABLE it_drift.warehouses {change}")
        with pytest.raises(Exception, match=message):
            dispatch(job_argv(specs["extract"], "r2"))
        assert target.latest_version(spark) == version  # nothing written


def test_extract_with_wrong_password_fails_without_leaking_it(spark, stack, tmp_path, monkeypatch):
    from lakehouse_airflow.operators.secrets import jdbc_env

    for k, v in jdbc_env("inventory_source").items():
        monkeypatch.setenv(k, v)
    monkeypatch.setenv("LAKEHOUSE_JDBC_PASSWORD", "definitely-wrong-pw")
    with pytest.raises(Exception) as err:
        dispatch(job_argv(_specs(tmp_path, "products")["extract"], "r1"))
    assert "password authentication failed" in str(err.value)
    stored = (tmp_path / "_control/step_results/t/r1/products/extract.json").read_text()
    assert json.loads(stored)["status"] == "FAILED"
    assert "definitely-wrong-pw" not in stored and "definitely-wrong-pw" not in str(err.value)


def test_missing_secret_is_a_named_error(tmp_path, monkeypatch) -> None:
    from spark_jobs.runtime.errors import SecretNotFoundError
    from spark_jobs.storage.secrets import resolve_jdbc

    monkeypatch.delenv("NOPE_URL", raising=False)
    with pytest.raises(SecretNotFoundError, match="environment variable NOPE_URL is not set"):
        resolve_jdbc("env:NOPE")


def test_two_runs_loading_one_table_take_turns_through_its_lease(spark, stack, tmp_path, monkeypatch) -> None:
    """A manual run while a backfill loads the same table, or the same table in two DAGs over one
    lakehouse: they would share its landing folder. The second extract fails at once naming the
    holder and touches nothing; it loads after the holder's write_bronze (or its audit, when the
    chain failed); a lapsed lease is taken over."""
    from lakehouse_airflow.operators.secrets import jdbc_env
    from lakehouse_contract.layout import lease_path
    from spark_jobs.runtime.errors import TableBusyError

    for k, v in jdbc_env("inventory_source").items():
        monkeypatch.setenv(k, v)
    specs = _specs(tmp_path)
    lease = Path(lease_path(str(tmp_path), "warehouses"))
    assert dispatch(job_argv(specs["extract"], "backfill_a")) == 0
    assert json.loads(lease.read_text())["run_id"] == "backfill_a"
    landing = sorted((p.name, p.read_bytes()) for p in Path(tmp_path, "landing").rglob("*.parquet"))
    with pytest.raises(TableBusyError, match="table warehouses is being loaded by run backfill_a of t"):
        dispatch(job_argv(specs["extract"], "manual_b"))
    assert sorted((p.name, p.read_bytes()) for p in Path(tmp_path, "landing").rglob("*.parquet")) == landing
    assert (
        json.loads((tmp_path / "_control/step_results/t/manual_b/warehouses/extract.json").read_text())["status"]
        == "FAILED"
    )
    assert dispatch(job_argv(specs["extract"], "backfill_a", try_number="2")) == 0  # the holder's retry
    assert dispatch(job_argv(specs["write_bronze"], "backfill_a")) == 0
    assert not lease.exists()  # released by the commit

    assert dispatch(job_argv(specs["extract"], "manual_b", try_number="2")) == 0
    states = "extract=success,write_bronze=failed"
    assert dispatch(job_argv(specs["audit"], "manual_b", upstream_states=states)) == 1  # a failed chain...
    assert not lease.exists()  # ...gives the lease back in its audit
    bronze = bronze_table(str(tmp_path), "inventory_bronze", "warehouses").read(spark).collect()
    assert len(bronze) == 5 and {r["_batch_id"] for r in bronze} == {"backfill_a"}

    lease.write_text(json.dumps({"dag_id": "other", "run_id": "dead_c", "task_id": "warehouses.extract",
                                 "acquired_at": "2026-11-01T00:00:00+00:00",
                                 "expires_at": "2026-11-01T06:00:00+00:00"}))  # fmt: skip
    assert dispatch(job_argv(specs["extract"], "manual_d")) == 0  # a lapsed lease is taken over
    assert json.loads(lease.read_text())["run_id"] == "manual_d"
