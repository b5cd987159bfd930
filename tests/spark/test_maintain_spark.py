"""The ``maintain`` job on real Delta tables (local Spark server)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.describe.maintenance import maintenance_specs
from lakehouse_contract.naming import Location
from spark_jobs.jobs import dispatch
from spark_jobs.jobs.maintain import RetentionTooShortError
from spark_jobs.storage.delta_io import STATS_COLUMNS, table_properties
from spark_jobs.storage.tables import bronze_table, table_ref
from support.specs import job_argv

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
CFG = load_pipeline(SHIPPED)


# -- the maintain job on real Delta tables ------------------------------------------------------------


def _run(tmp_path: Path, tables: str, **changes: object) -> int:
    task = next(s for s in maintenance_specs(CFG) if s.task_id == "orders")
    spec = replace(task.spec, dag_id="m", location=Location(str(tmp_path)), tables=tuple(tables.split(",")), **changes)
    return dispatch(job_argv(spec, "run-1", "2026-11-22"))


def test_maintain_compacts_small_files_and_keeps_time_travel(spark, tmp_path: Path) -> None:
    ref = bronze_table(str(tmp_path), "inventory_bronze", "orders")
    for batch in range(8):  # eight small commits -> at least eight files
        rows = [(batch * 100 + i, i % 7, f"2026-11-{10 + i % 5:02d}") for i in range(50)]
        frame = spark.createDataFrame(rows, "order_id bigint, customer_id bigint, order_date string")
        # made with statistics on its key only: Z-ORDER needs them on its columns too
        ref.save(frame.repartition(2).write.mode("append").option(STATS_COLUMNS, "order_id"))
    before = spark.sql(f"DESCRIBE DETAIL {ref.sql_name}").first()["numFiles"]
    first_version = sorted(map(tuple, spark.read.format("delta").option("versionAsOf", 0).load(ref.path).collect()))
    assert before >= 8

    assert _run(tmp_path, "inventory_bronze.bz_orders,inventory_silver.orders") == 0

    detail = spark.sql(f"DESCRIBE DETAIL {ref.sql_name}").first()
    assert detail["numFiles"] < before and detail["numFiles"] <= 2
    assert ref.read(spark).count() == 400  # same data
    # VACUUM kept every file younger than the retention: version 0 still reads, unchanged
    assert (
        sorted(map(tuple, spark.read.format("delta").option("versionAsOf", 0).load(ref.path).collect()))
        == first_version
    )
    history = spark.sql(f"DESCRIBE HISTORY {ref.sql_name}").select("operation", "operationParameters").collect()
    optimize = next(h for h in history if h["operation"] == "OPTIMIZE")
    assert json.loads(optimize["operationParameters"]["zOrderBy"]) == ["customer_id", "order_date"]
    log = {
        r["table_name"]: r
        for r in table_ref(str(tmp_path), "inventory_bronze", "bz_maintenance_log").read(spark).collect()
    }
    assert log["inventory_bronze.bz_orders"]["status"] == "SUCCESS"
    assert (log["inventory_bronze.bz_orders"]["files_before"], log["inventory_bronze.bz_orders"]["files_after"]) == (
        before,
        detail["numFiles"],
    )
    assert log["inventory_bronze.bz_orders"]["zorder_by"] == "customer_id,order_date"
    assert table_properties(spark, ref)[STATS_COLUMNS] == "order_id,customer_id,order_date"
    assert log["inventory_bronze.bz_orders"]["files_deleted_by_vacuum"] == 0
    assert log["inventory_silver.orders"]["status"] == "SKIPPED"  # not created yet: nothing to do


def test_maintain_refuses_a_retention_below_seven_days(spark, tmp_path: Path) -> None:
    ref = bronze_table(str(tmp_path), "inventory_bronze", "orders")
    for batch in range(3):
        ref.save(
            spark.createDataFrame(
                [(batch, 1, "2026-11-10")], "order_id bigint, customer_id bigint, order_date string"
            ).write.mode("append")
        )
    files = spark.sql(f"DESCRIBE DETAIL {ref.sql_name}").first()["numFiles"]
    with pytest.raises(RetentionTooShortError, match="below the 168 h guard"):
        _run(tmp_path, "inventory_bronze.bz_orders", retention_hours=0)
    assert spark.sql(f"DESCRIBE DETAIL {ref.sql_name}").first()["numFiles"] == files  # nothing touched
    assert not table_ref(str(tmp_path), "inventory_bronze", "bz_maintenance_log").exists()
