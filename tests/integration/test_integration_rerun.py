"""A second run with one source table gone, on a private copy of the shared full run."""

from __future__ import annotations

import psycopg
from pyspark.sql import functions as F

from lakehouse_airflow.describe.pipeline import BRONZE_STEPS
from support.dagrun import (
    bronze_version,
    dags_test,
    lake_copy,
    layer_snapshot,
    read_audit,
    read_bronze,
    runs,
    ti_states,
)
from support.env import IT_SCHEMA


def test_rerun_with_missing_table_fails_alone_blocks_dependants_changes_nothing(
    first, stack, spark, source_dsn, tmp_path
):
    """A second run of the same date for `returns` and `warehouses` (params.tables) with `returns`
    gone from the source: warehouses runs (its source unchanged: reconciled, neither reloaded nor
    rebuilt), returns fails and blocks only what reads it, every other task skips, and silver and
    gold end identical (a rerun with the same source data changes nothing; the blocked tables keep
    their previous state)."""
    lake, counts = lake_copy(first.lake, tmp_path / "lake"), first.counts
    snapshot = layer_snapshot(spark, lake)
    before = {t: bronze_version(spark, lake, t) for t in counts}
    returns_before = read_bronze(spark, lake, "returns").collect()
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {IT_SCHEMA}.returns RENAME TO returns_hidden")
    try:
        conf = ["--conf", '{"tables": ["returns", "warehouses"]}']
        second = dags_test(stack, first.pipelines, lake, "inventory_lakehouse", args=conf)
    finally:
        with psycopg.connect(source_dsn, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE {IT_SCHEMA}.returns_hidden RENAME TO returns")
    assert second.returncode != 0, "a run with a failed table must end failed"
    run2 = runs(spark, lake)[-1]
    audit2 = read_audit(spark, lake).where(F.col("job_run_id") == run2).collect()
    by_target = {r["target_table"]: r for r in audit2}
    assert set(by_target) == {"inventory_bronze.bz_returns", "inventory_bronze.bz_warehouses",
                              "inventory_silver.warehouses"}  # fmt: skip
    assert by_target["inventory_bronze.bz_returns"]["status"] == "FAILED"
    assert "check 'table exists' failed" in by_target["inventory_bronze.bz_returns"]["error_details"]
    assert by_target["inventory_bronze.bz_warehouses"]["status"] == "SUCCESS"
    assert by_target["inventory_silver.warehouses"]["status"] == "SUCCESS"
    assert {by_target[t]["load_mode"] for t in ("inventory_bronze.bz_warehouses", "inventory_silver.warehouses")} == {
        "unchanged"
    }
    assert by_target["inventory_bronze.bz_warehouses"]["row_count"] == counts["warehouses"]  # reconciled
    assert bronze_version(spark, lake, "returns") == before["returns"]
    assert read_bronze(spark, lake, "returns").collect() == returns_before
    assert read_bronze(spark, lake, "warehouses").count() == counts["warehouses"]  # no duplicates
    assert all(bronze_version(spark, lake, t) == before[t] for t in counts)  # warehouses: not rewritten
    states = ti_states(stack, run2)
    blocked = {"inventory_silver.returns", "inventory_gold.returns_by_reason", "inventory_gold.customer_summary",
               "inventory_gold.executive_summary"}  # fmt: skip
    assert states["returns.validate_connection"] == "failed" and states["returns.audit"] == "failed"
    assert {t for t in blocked if states[t] == "upstream_failed"} == blocked
    ran = {t for t, s in states.items() if s == "success"}
    assert ran == {"warehouses.validate_connection", "warehouses.extract", "warehouses.write_bronze",
                   "warehouses.audit", "inventory_silver.warehouses"}  # fmt: skip
    assert states["returns.extract"] == states["returns.write_bronze"] == "upstream_failed"
    # the run summary ran last, printed the outcome and failed the run
    assert states["summary"] == "failed"
    assert "failed in this run: table returns, gold returns_by_reason" in second.stdout + second.stderr
    others = set(states) - ran - blocked - {f"returns.{step}" for step in BRONZE_STEPS} - {"summary"}
    assert {states[t] for t in others} == {"skipped"}, {t: states[t] for t in others}
    assert layer_snapshot(spark, lake) == snapshot
