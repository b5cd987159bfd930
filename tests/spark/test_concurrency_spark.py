"""Parallel tasks (the scheduler runs several at once) sharing the audit log and the DQ results table.

Found by the real-services suite: two silver tasks creating `dq_results` on an empty directory at
the same moment (ProtocolChangedException), or replacing their own slices of it concurrently
(ConcurrentAppendException). Each writer here has its own Spark Connect session, like a task."""

from __future__ import annotations

import datetime as dt
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from pyspark.sql import SparkSession
from pyspark.sql.types import LongType, StringType, StructField, StructType

from lakehouse_contract.audit import AuditRow
from spark_jobs.storage.audit_log import append_audit
from spark_jobs.storage.delta_io import is_conflict, replace_slice, retry_on_conflict
from spark_jobs.storage.tables import TableRef

WRITERS = 6
SLICE = StructType(
    [StructField("table_name", StringType()), StructField("run_id", StringType()), StructField("n", LongType())]
)


def _sessions(n: int) -> list[SparkSession]:
    return [SparkSession.builder.remote(os.environ["LAKEHOUSE_SPARK_REMOTE"]).create() for _ in range(n)]


def test_parallel_writers_create_and_replace_their_slices_of_one_table(spark, tmp_path: Path) -> None:
    table = TableRef("inventory_silver", "dq_results", str(tmp_path))
    sessions = _sessions(WRITERS)

    def write(i: int) -> None:
        for run in ("r1", "r2"):
            frame = sessions[i].createDataFrame([(f"t{i}", run, i)] * 3, SLICE)
            replace_slice(table, frame, {"run_id": run, "table_name": f"t{i}"}, partition_by=("table_name",))

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(write, range(WRITERS)))  # raises if any writer failed
    rows = spark.read.format("delta").load(table.path).collect()
    assert sorted((r.table_name, r.run_id) for r in rows) == sorted(
        (f"t{i}", run) for i in range(WRITERS) for run in ("r1", "r2") for _ in range(3)
    )


def test_parallel_audit_appends_all_land_once(spark, tmp_path: Path) -> None:
    table = TableRef("inventory_bronze", "bz_audit_log", str(tmp_path))
    sessions = _sessions(WRITERS)
    now = dt.datetime.now(dt.UTC)

    def record(i: int) -> AuditRow:
        return AuditRow(
            record_id=f"id{i}", source_table=f"s.t{i}", target_table=f"b.t{i}", load_timestamp=now,
            processed_by="test", status="SUCCESS", job_run_id="run", dag_id="dag", logical_date=now.date(),
        )  # fmt: skip

    with ThreadPoolExecutor(WRITERS) as pool:
        list(pool.map(lambda i: append_audit(sessions[i], table, record(i)), range(WRITERS)))
    ids = [r.record_id for r in spark.read.format("delta").load(table.path).collect()]
    assert sorted(ids) == [f"id{i}" for i in range(WRITERS)]


def test_only_conflicts_are_retried() -> None:
    calls = []

    def conflict_once() -> str:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("(io.delta.exceptions.ConcurrentAppendException) [DELTA_CONCURRENT_APPEND] ...")
        return "done"

    assert retry_on_conflict(conflict_once) == "done" and len(calls) == 2
    assert is_conflict(RuntimeError("[DELTA_PROTOCOL_CHANGED] ProtocolChangedException"))

    def bad_input() -> None:
        calls.append(1)
        raise ValueError("bad input")

    calls.clear()
    with pytest.raises(ValueError, match="bad input"):
        retry_on_conflict(bad_input)
    assert len(calls) == 1
