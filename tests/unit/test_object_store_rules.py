"""An s3a:// lakehouse root and disaster recovery, without services: URIs, which tasks carry the
object-store connection, the commit-safety rule, which Delta log files a replica copies, the DR DAG."""

from __future__ import annotations

import pytest

from lakehouse_airflow.build.dag import build_all
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.describe.dr import dr_specs, dr_tables
from lakehouse_airflow.describe.maintenance import maintenance_specs
from lakehouse_airflow.describe.pipeline import pipeline_specs
from lakehouse_airflow.describe.tasks import SparkTask
from lakehouse_airflow.paths import lakehouse_root
from lakehouse_contract.storage import ObjectUri, StorageUriError, is_object_store
from spark_jobs.jobs.dr import _wanted
from spark_jobs.runtime.errors import UnsafeCommitConfigurationError
from spark_jobs.runtime.session import require_safe_commits
from support.env import ROOT

SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"


def test_object_store_uris() -> None:
    uri = ObjectUri.parse("s3a://lakehouse/demo/inventory_bronze/")
    assert (uri.bucket, uri.key, str(uri)) == (
        "lakehouse",
        "demo/inventory_bronze",
        "s3a://lakehouse/demo/inventory_bronze",
    )
    assert str(ObjectUri.parse("s3a://b")) == "s3a://b"
    assert is_object_store("s3a://b/p") and not is_object_store("/tmp/s3a://x") and not is_object_store("/Volumes/a")
    with pytest.raises(StorageUriError):
        ObjectUri.parse("/local/path")
    assert lakehouse_root("s3a://lakehouse/demo/") == "s3a://lakehouse/demo"  # not made project-relative


def test_every_spark_task_carries_the_storage_connection_only_for_an_s3_root(monkeypatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_ROOT", "/tmp/lake")
    cfg = load_pipeline(SHIPPED)
    assert {t.storage_conn_id for t in pipeline_specs(cfg) if isinstance(t, SparkTask)} == {None}
    monkeypatch.setenv("LAKEHOUSE_ROOT", "s3a://lakehouse/x")
    spark = [t for t in [*pipeline_specs(cfg), *maintenance_specs(cfg)] if isinstance(t, SparkTask)]
    assert {t.storage_conn_id for t in spark} == {"lakehouse_s3"}
    assert all(t.spec.location.root == "s3a://lakehouse/x" for t in spark)
    assert all("lakehouse_s3" not in " ".join(t.argv()) for t in spark)  # a reference, never in argv


def test_a_job_with_its_own_driver_refuses_an_s3_root(monkeypatch) -> None:
    for name in ("LAKEHOUSE_SPARK_REMOTE", "DATABRICKS_RUNTIME_VERSION", "LAKEHOUSE_S3_LOGSTORE"):
        monkeypatch.delenv(name, raising=False)
    require_safe_commits("/tmp/lake")  # local disk: any number of drivers (put-if-absent by rename)
    with pytest.raises(UnsafeCommitConfigurationError, match="S3DynamoDBLogStore"):
        require_safe_commits("s3a://lakehouse/x")
    monkeypatch.setenv("LAKEHOUSE_S3_LOGSTORE", "dynamodb")
    require_safe_commits("s3a://lakehouse/x")
    monkeypatch.delenv("LAKEHOUSE_S3_LOGSTORE")
    monkeypatch.setenv("LAKEHOUSE_SPARK_REMOTE", "sc://127.0.0.1:15102")  # one driver for every task
    require_safe_commits("s3a://lakehouse/x")


def test_a_replica_takes_the_log_up_to_the_restore_point_and_every_data_file() -> None:
    assert _wanted("_delta_log/00000000000000000003.json", 3)
    assert _wanted("_delta_log/00000000000000000003.crc", 3)
    assert _wanted("_delta_log/00000000000000000002.checkpoint.parquet", 3)
    assert not _wanted("_delta_log/00000000000000000004.json", 3)  # after the point
    assert not _wanted("_delta_log/00000000000000000010.checkpoint.parquet", 3)
    assert not _wanted("_delta_log/_last_checkpoint", 3)  # may name a later checkpoint
    assert not _wanted("_delta_log/00000000000000000001.00000000000000000005.compacted.json", 3)
    assert _wanted("_delta_log/00000000000000000001.00000000000000000003.compacted.json", 3)
    assert not _wanted("_delta_log/_staged_commits/x.json", 3)
    assert _wanted("part-00000-abc.snappy.parquet", 3) and _wanted("_logical_date=2026-11-20/part-0.parquet", 0)
    assert _wanted("deletion_vector_1234.bin", 0)


def test_the_dr_dag_exists_with_a_replica_root_and_covers_every_table(monkeypatch) -> None:
    monkeypatch.delenv("LAKEHOUSE_REPLICA_ROOT", raising=False)
    folder = str(SHIPPED.parent)
    assert "inventory_lakehouse_dr" not in build_all(folder)
    monkeypatch.setenv("LAKEHOUSE_REPLICA_ROOT", "s3a://lakehouse-replica/inventory")
    dag = build_all(folder)["inventory_lakehouse_dr"]
    assert [t.task_id for t in dag.topological_sort()] == ["dr.restore_point", "dr.replicate"]
    cfg = load_pipeline(SHIPPED)
    first, second = dr_specs(cfg)
    assert second.spec.replica_root == "s3a://lakehouse-replica/inventory" and second.storage_conn_id == "lakehouse_s3"
    tables = dr_tables(cfg)
    assert len(tables) == len(set(tables)) == 40  # 39 written by a run + the maintenance log
    assert {"inventory_bronze.bz_watermarks", "inventory_bronze.bz_audit_log", "inventory_silver.dq_results"} <= set(
        tables
    )
