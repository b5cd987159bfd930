"""The whole maintenance DAG through ``airflow dags test`` with the lakehouse on the object store (a
copy of the shared full run uploaded to the project's S3 server): OPTIMIZE (+ Z-ORDER) and VACUUM
through S3A, the step results in the bucket, the ETL monitor reading them there. (The job on local
disk: ``tests/spark/test_maintain_spark.py``.)"""

from __future__ import annotations

import re
import uuid

from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.describe.maintenance import maintenance_specs
from lakehouse_airflow.monitor.store import MonitorStore
from spark_jobs.storage.tables import table_ref
from support import kernel
from support import s3 as objects
from support.dagrun import LOAD_STAMPS, PER_RUN, dags_test
from support.env import ROOT, sh

SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
CFG = load_pipeline(SHIPPED)
# the orders tables, one gold model and the control tables; the others are SKIPPED as not created
# yet: the same tasks run, in a third of the time
KEEP = {"bz_orders", "orders", "orders_quarantine", "daily_sales", "bz_audit_log", "bz_watermarks", "dq_results"}
DATA = ("inventory_bronze/bz_orders", "inventory_silver/orders", "inventory_silver/orders_quarantine",
        "inventory_gold/daily_sales")  # fmt: skip


def _rows(spark, root: str) -> dict[str, list]:
    out = {}
    for table in DATA:
        frame = spark.read.format("delta").load(f"{root}/{table}")
        kept = [c for c in frame.columns if c not in PER_RUN | LOAD_STAMPS]
        out[table] = sorted(map(tuple, frame.select(*kept).collect()), key=repr)
    return out


def test_maintenance_dag_on_the_object_store_leaves_the_data_unchanged(stack, spark, first) -> None:
    sh("scripts/locals3.sh up", env=stack, timeout=1200)
    s3 = objects.client(stack)
    root = f"s3a://lakehouse/maintenance-{uuid.uuid4().hex[:8]}"
    objects.upload_lake(s3, first.lake, root, KEEP)
    kept = sorted(f"{t.parent.name}/{t.name}" for t in kernel.delta_tables(first.lake) if t.name in KEEP)
    assert objects.delta_tables(s3, root) == kept and len(kept) == len(KEEP)
    before = _rows(spark, root)
    result = dags_test(stack, first.pipelines, root, "inventory_lakehouse_maintenance")  # type: ignore[arg-type]
    assert result.returncode == 0, result.stdout[-4000:]
    assert objects.credentials(stack)["secret"] not in result.stdout + result.stderr

    log = table_ref(root, "inventory_bronze", "bz_maintenance_log").read(spark).collect()
    statuses = {r["table_name"]: r["status"] for r in log}
    assert statuses["inventory_bronze.bz_orders"] == statuses["inventory_silver.orders"] == "SUCCESS"
    assert statuses["inventory_gold.daily_sales"] == "SUCCESS"
    assert "FAILED" not in statuses.values()
    assert statuses["inventory_bronze.bz_products"] == statuses["inventory_gold.returns_by_reason"] == "SKIPPED"
    assert len(statuses) == sum(len(s.spec.tables) for s in maintenance_specs(CFG))  # type: ignore[attr-defined]
    assert _rows(spark, root) == before  # compaction rewrites files, never rows
    history = spark.sql(f"DESCRIBE HISTORY delta.`{root}/inventory_silver/orders`").collect()
    assert any(h["operation"] == "OPTIMIZE" for h in history)

    # recorded in the ETL monitor as its own weekly process, one DONE step per task with what it did
    # (the listener read each task's step result from the bucket)
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
