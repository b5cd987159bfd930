"""The whole maintenance DAG through ``airflow dags test`` on a copy of the shared full run."""

from __future__ import annotations

import re
from pathlib import Path

from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.describe.maintenance import maintenance_specs
from spark_jobs.storage.tables import table_ref

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
CFG = load_pipeline(SHIPPED)


def test_maintenance_dag_end_to_end_leaves_the_data_unchanged(stack, spark, first, tmp_path: Path) -> None:
    """The whole maintenance DAG through `airflow dags test` on a copy of the shared full run,
    cut down to the orders tables, one gold model and the control tables (the others are SKIPPED
    as not created yet: the same tasks run, in a third of the time)."""
    import shutil

    from support.dagrun import dags_test, state

    lake = tmp_path / "lake"
    shutil.copytree(first.lake, lake)
    keep = {"bz_orders", "orders", "orders_quarantine", "daily_sales", "bz_audit_log", "bz_watermarks", "dq_results"}
    for layer in ("inventory_bronze", "inventory_silver", "inventory_gold"):
        for table in (lake / layer).iterdir():
            if table.name not in keep:
                shutil.rmtree(table)
    before = state(spark, lake)
    result = dags_test(stack, first.pipelines, lake, "inventory_lakehouse_maintenance")
    assert result.returncode == 0, result.stdout[-4000:]
    log = table_ref(str(lake), "inventory_bronze", "bz_maintenance_log").read(spark).collect()
    statuses = {r["table_name"]: r["status"] for r in log}
    assert statuses["inventory_bronze.bz_orders"] == statuses["inventory_silver.orders"] == "SUCCESS"
    assert statuses["inventory_gold.daily_sales"] == "SUCCESS"
    assert "FAILED" not in statuses.values()
    assert statuses["inventory_bronze.bz_products"] == statuses["inventory_gold.returns_by_reason"] == "SKIPPED"
    assert len(statuses) == sum(len(s.spec.tables) for s in maintenance_specs(CFG))  # type: ignore[attr-defined]
    assert state(spark, lake) == before  # compaction rewrites files, never rows
    history = spark.sql(f"DESCRIBE HISTORY delta.`{lake / 'inventory_silver' / 'orders'}`").collect()
    assert any(h["operation"] == "OPTIMIZE" for h in history)
    # recorded in the ETL monitor as its own weekly process, one DONE step per task with what it did
    from lakehouse_airflow.monitor.store import MonitorStore

    (run_id,) = {r["run_id"] for r in log}
    monitor = MonitorStore(CFG.monitor.conn_id, CFG.monitor.schema_name)
    _, steps = monitor.query(
        "SELECT task_id, status, message FROM __SCHEMA__.processing_steps WHERE workflow_id = %s AND run_id = %s",
        ("inventory_lakehouse_maintenance", run_id),
    )
    assert {t for t, _, _ in steps} == {s.full_id for s in maintenance_specs(CFG)}
    assert {status for _, status, _ in steps} == {"DONE"}
    assert re.fullmatch(r"3 tables, files \d+ -> \d+", {t: m for t, _, m in steps}["maintenance.orders"])
    _, process = monitor.query(
        "SELECT frequency FROM __SCHEMA__.process_registry WHERE workflow_id = 'inventory_lakehouse_maintenance'"
    )
    assert process == [("WEEKLY",)]
