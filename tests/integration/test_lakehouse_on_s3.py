"""The whole DAG with the lakehouse on the object store (``LAKEHOUSE_ROOT=s3a://lakehouse/<prefix>``,
the project's SeaweedFS server, Spark through S3A), compared with the same run on local disk (the
suite's shared ``first`` run).

One scenario, asserted from several sides: the first run on S3 (``airflow dags test``, orders only,
the ``tables`` param) has ``write_bronze`` fail (an injected fault after the data is staged), the
second run is every Spark task of the DAG for the same date, run as ``support.inprocess`` runs them
(same specs and rendered arguments, the key pair in the job's environment as the operator puts it
there): the whole DAG through Airflow costs ~7 minutes on S3, and the operators' side of an S3
lakehouse is what the failed run here and ``test_file_sources_on_s3`` (a whole DAG) go through.
After the rerun every table equals the local run by content, DuckDB's Delta reader (delta-kernel-rs
with its own S3 client) reads every table from the bucket with the rows Spark reads, no lease is
left behind, and the object store's secret key appears nowhere the pipeline writes or logs.
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
from typing import Any

import pytest
from pyspark.sql import functions as F

from lakehouse_airflow.config import load_pipeline, load_pipelines
from lakehouse_airflow.operators.secrets import object_store_env
from lakehouse_contract.layout import LEASES, STEP_RESULTS
from lakehouse_contract.storage import ObjectUri
from support import kernel
from support import s3 as objects
from support.dagrun import DATE, LOAD_STAMPS, PER_RUN, dags_test, runs
from support.env import ROOT, sh
from support.inprocess import Run, run_pipeline

CFG = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")
# who ran it and when: differs between two runs of the same date by construction
VOLATILE = PER_RUN | LOAD_STAMPS | {
    "record_id", "load_timestamp", "processing_time", "job_run_id", "try_number", "extract_seconds",
    "write_seconds", "run_id", "last_run_id", "bronze_batch_id",
}  # fmt: skip
PER_RUN_TABLES = ("inventory_bronze/bz_audit_log", "inventory_silver/dq_results")  # a record per run


@dataclass
class S3Run:
    root: str
    failed: Any  # the first dags test (orders' write_bronze failed)
    env: dict[str, str]


@pytest.fixture(scope="module")
def s3_run(stack, first) -> S3Run:
    sh("scripts/locals3.sh up", env=stack, timeout=1200)  # the Spark server is configured for it
    root = f"s3a://lakehouse/it-{uuid.uuid4().hex[:8]}"
    failed = dags_test(stack, first.pipelines, root, "inventory_lakehouse", args=("--conf", '{"tables": ["orders"]}'),
                       extra_env={"LAKEHOUSE_INJECT_FAULT": "write_bronze:orders"})  # fmt: skip
    # the rerun: the key pair reaches the jobs as the operator hands it over (execute-time environment)
    os.environ.update(object_store_env("lakehouse_s3"))
    (cfg,) = load_pipelines(first.pipelines)
    run_pipeline(cfg, Run(DATE, f"manual__{DATE}T00:00:00+00:00"), root)  # type: ignore[arg-type]  # raises on a failed job
    return S3Run(root, failed, stack)


def _path(lake: object, table: str) -> str:
    return f"{lake}/{table}"


def _rows(spark, path: str, run: str | None) -> list:
    frame = spark.read.format("delta").load(path)
    if run is not None:  # a table with a record (or a slice) per run: this run's
        column = next(c for c in ("job_run_id", "run_id", "_batch_id") if c in frame.columns)
        frame = frame.where(F.col(column) == run)
    kept = [c for c in frame.columns if c not in VOLATILE]
    if path.endswith("bz_watermarks"):
        kept.remove("updated_at")  # the registry's own wall clock (source tables' updated_at is data)
    if path.endswith("bz_audit_log"):
        kept = ["target_table", "layer", "status"]  # a rerun's modes and timings differ; outcomes do not
    found = map(tuple, frame.select(*kept).collect())
    if path.endswith("_quarantine"):  # a full table's quarantine keeps a slice per run, an incremental
        found = iter({repr(r): r for r in found}.values())  # table's one per key: the same rows held
    return sorted(found, key=repr)


def test_the_failed_write_on_s3_left_nothing_and_the_rerun_completed(s3_run, spark) -> None:
    assert s3_run.failed.returncode != 0
    assert "injected failure in write_bronze:orders" in s3_run.failed.stdout + s3_run.failed.stderr
    first_run, last_run = runs(spark, s3_run.root)
    audit = spark.read.format("delta").load(_path(s3_run.root, "inventory_bronze/bz_audit_log"))
    failed = audit.where((F.col("job_run_id") == first_run) & (F.col("status") != "SUCCESS"))
    assert {r["target_table"].rsplit(".", 1)[-1] for r in failed.collect()} >= {"bz_orders"}
    history = spark.sql(f"DESCRIBE HISTORY delta.`{_path(s3_run.root, 'inventory_bronze/bz_orders')}`").collect()
    assert len(history) == 1  # created by the rerun only: the failed write committed nothing
    assert last_run != first_run


def test_every_table_on_s3_equals_the_run_on_local_disk(s3_run, first, spark) -> None:
    s3 = objects.client(s3_run.env)
    on_s3 = objects.delta_tables(s3, s3_run.root)
    local = [f"{p.parent.name}/{p.name}" for p in kernel.delta_tables(first.lake)]
    assert on_s3 == local and len(local) == 39
    last_run = runs(spark, s3_run.root)[-1]
    for table in local:
        per_run = table in PER_RUN_TABLES
        ours = _rows(spark, _path(s3_run.root, table), last_run if per_run else None)
        theirs = _rows(spark, _path(first.lake, table), first.run_id if per_run else None)
        assert ours == theirs, table
    bronze = spark.read.format("delta").load(_path(s3_run.root, "inventory_bronze/bz_orders"))
    assert bronze.count() == bronze.select("order_id").distinct().count() == first.counts["orders"]


def test_duckdb_reads_every_table_from_the_bucket_with_the_rows_spark_reads(s3_run, spark) -> None:
    """A second Delta implementation with its own S3 client: the tables are valid Delta on S3."""
    con = objects.duckdb_s3(s3_run.env)
    s3 = objects.client(s3_run.env)
    for table in objects.delta_tables(s3, s3_run.root):
        uri = ObjectUri.parse(_path(s3_run.root, table))
        duck = con.execute(f"SELECT count(*) FROM delta_scan('s3://{uri.bucket}/{uri.key}')").fetchone()[0]
        assert duck == spark.read.format("delta").load(str(uri)).count(), table
    for name in ("orders", "order_details", "customers"):
        keys = ", ".join(CFG.tables[name].primary_key)
        uri = ObjectUri.parse(_path(s3_run.root, f"inventory_silver/{name}"))
        duck = con.execute(f"SELECT {keys}, _row_hash FROM delta_scan('s3://{uri.bucket}/{uri.key}') ORDER BY {keys}")
        frame = spark.read.format("delta").load(str(uri)).select(*CFG.tables[name].primary_key, "_row_hash")
        assert duck.fetchall() == [tuple(r) for r in frame.orderBy(*CFG.tables[name].primary_key).collect()], name


def test_no_lease_is_left_and_step_results_live_in_the_bucket(s3_run) -> None:
    s3 = objects.client(s3_run.env)
    assert objects.keys(s3, f"{s3_run.root}/{LEASES}") == []  # released by write_bronze / audit
    results = objects.keys(s3, f"{s3_run.root}/{STEP_RESULTS}")
    statuses = {json.loads(s3.get_object(Bucket="lakehouse", Key=k)["Body"].read())["status"] for k in results}
    assert len(results) >= 30 and statuses == {"SUCCESS", "FAILED"}  # the failed run's write_bronze: FAILED


def test_the_object_store_secret_appears_nowhere(s3_run, spark) -> None:
    """Not in the task logs (dags test prints them), the step results or the audit log."""
    secret = objects.credentials(s3_run.env)["secret"]
    assert secret not in s3_run.failed.stdout + s3_run.failed.stderr
    s3 = objects.client(s3_run.env)
    for key in objects.keys(s3, f"{s3_run.root}/{STEP_RESULTS}"):
        assert secret not in s3.get_object(Bucket="lakehouse", Key=key)["Body"].read().decode()
    audit = spark.read.format("delta").load(_path(s3_run.root, "inventory_bronze/bz_audit_log"))
    assert not [r for r in audit.collect() if secret in repr(r)]
