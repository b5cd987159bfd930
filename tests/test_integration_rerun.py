"""A second full run with one source table gone. It changes the shared lakehouse (a new
bronze batch), so it lives in the file that runs last among the integration suites."""

from __future__ import annotations

import psycopg
import pytest
from conftest import IT_SCHEMA
from dagrun import (
    bronze_version,
    dags_test,
    layer_snapshot,
    read_audit,
    read_bronze,
    runs,
    ti_states,
)
from pyspark.sql import functions as F

pytestmark = pytest.mark.integration


def test_rerun_with_missing_table_fails_alone_blocks_dependants_changes_nothing(first, stack, spark, source_dsn):  # noqa: ANN001
    """Second full run with `returns` gone from the source: the other nine reload, returns fails and
    blocks only what reads it, and silver and gold end identical (a rerun with the same source data
    changes nothing; the blocked tables keep their previous state)."""
    lake, counts = first.lake, first.counts
    snapshot = layer_snapshot(spark, lake)
    before = {t: bronze_version(spark, lake, t) for t in counts}
    returns_before = read_bronze(spark, lake, "returns").collect()
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {IT_SCHEMA}.returns RENAME TO returns_hidden")
    try:
        second = dags_test(stack, first.pipelines, lake, "inventory_lakehouse")
    finally:
        with psycopg.connect(source_dsn, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE {IT_SCHEMA}.returns_hidden RENAME TO returns")
    assert second.returncode != 0, "a run with a failed table must end failed"
    run2 = runs(spark, lake)[-1]
    audit2 = read_audit(spark, lake).where((F.col("job_run_id") == run2) & (F.col("layer") == "bronze")).collect()
    audit2 = {r["source_table"].split(".")[1]: r for r in audit2}
    assert len(audit2) == 10
    assert audit2["returns"]["status"] == "FAILED"
    assert "check 'table exists' failed" in audit2["returns"]["error_details"]
    for table, n in counts.items():
        if table == "returns":
            assert bronze_version(spark, lake, table) == before[table]
            assert read_bronze(spark, lake, table).collect() == returns_before
            continue
        assert audit2[table]["status"] == "SUCCESS", (table, audit2[table]["error_details"])
        assert read_bronze(spark, lake, table).count() == n  # rerun: same counts, no duplicates
        assert bronze_version(spark, lake, table) == before[table] + 1
    states = ti_states(stack, run2)
    blocked = {"inventory_silver.returns", "inventory_gold.returns_by_reason", "inventory_gold.customer_summary",
               "inventory_gold.executive_summary"}  # fmt: skip
    assert states["returns.validate_connection"] == "failed" and states["returns.audit"] == "failed"
    assert {t for t in blocked if states[t] == "upstream_failed"} == blocked
    others = [t for t in states if t.startswith(("inventory_silver.", "inventory_gold.")) and t not in blocked]
    assert len(others) == 12 and all(states[t] == "success" for t in others), states
    assert layer_snapshot(spark, lake) == snapshot
