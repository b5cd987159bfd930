"""Watermark registry: one row per table with the last committed high-water mark.

Written by write_bronze *after* the bronze commit, and only ever forward: a retry or rerun of the
same run (or of an older date) leaves the mark where it is. The registry is partitioned by table
and each table's row is replaced on its own (``replaceWhere``), so parallel tasks never conflict;
the write carries Delta's idempotent-write guard (``txnAppId`` = the table, ``txnVersion`` = the
mark in microseconds), so Delta itself skips a write whose mark is not newer than the last one
committed, even when two writers of the same table race. That is the MERGE's guarantee at a
third of its cost (a Delta MERGE costs ~1 s even on a ten-row table).

Delta's ``RESTORE`` brings the registry's rows back but not its transaction identifiers: the guard
would keep the newer mark of the undone runs and silently skip every later write (found by the DR
test). A restore or rebuild therefore starts a new *epoch* (``lakehouse_contract.layout.
restore_epoch_path``, written by the DR job), and the guard's ``txnAppId`` carries it.
"""

from __future__ import annotations

import datetime as dt
import json

from pyspark.sql import SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import (
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from lakehouse_contract.layout import restore_epoch_path
from spark_jobs.storage.delta_io import create_if_missing, retry_on_conflict, sql_literal
from spark_jobs.storage.files import files_for
from spark_jobs.storage.tables import TableRef

REGISTRY_SCHEMA = StructType(
    [
        StructField("table_name", StringType(), False),
        StructField("watermark_column", StringType(), True),
        StructField("high_water_mark", TimestampNTZType(), False),  # source-local time, like the column
        StructField("load_mode", StringType(), True),
        StructField("last_run_id", StringType(), True),
        StructField("last_logical_date", DateType(), True),
        StructField("rows_loaded", LongType(), True),
        StructField("updated_at", TimestampType(), True),
    ]
)
_EPOCH = dt.datetime(1970, 1, 1)


def txn_version(high_water_mark: dt.datetime) -> int:
    """The mark as an increasing integer (microseconds), Delta's idempotent-write version."""
    return (high_water_mark.replace(tzinfo=None) - _EPOCH) // dt.timedelta(microseconds=1)


def current(spark: SparkSession, registry: TableRef, table: str) -> dt.datetime | None:
    """``table``'s committed mark, or None (also when there is no registry yet)."""
    if not registry.exists():
        return None
    rows = registry.read(spark).where(F.col("table_name") == table).select("high_water_mark").collect()
    return max((r[0] for r in rows), default=None)  # one row; no aggregate, so no shuffle


def advance(
    spark: SparkSession,
    registry: TableRef,
    *,
    table: str,
    watermark_column: str | None,
    high_water_mark: dt.datetime,
    load_mode: str,
    run_id: str,
    logical_date: dt.date,
    rows: int,
    epoch: str = "",
    attempts: int = 5,
) -> bool:
    """Move ``table``'s mark to ``high_water_mark`` if that is later; True when it moved."""
    # a registry just created holds no mark to compare with: the first attempt skips the read
    fresh = create_if_missing(spark, registry, REGISTRY_SCHEMA, partition_by=("table_name",))
    mark = high_water_mark.replace(tzinfo=None)
    row = spark.createDataFrame(
        [(table, watermark_column, mark, load_mode, run_id, logical_date, rows, dt.datetime.now(dt.UTC))],
        REGISTRY_SCHEMA,
    )
    writer = (
        row.write.mode("overwrite")
        .option("replaceWhere", f"table_name = {sql_literal(table)}")
        .option("txnAppId", f"watermark:{table}" + (f"@{epoch}" if epoch else ""))
        .option("txnVersion", txn_version(mark))
    )

    def write() -> bool:
        nonlocal fresh
        committed = None if fresh else current(spark, registry, table)
        fresh = False  # a retry (another writer committed first) reads
        if committed is not None and committed >= mark:
            return False
        registry.save(writer)  # Delta skips it if a newer mark was committed since the read
        return True

    return retry_on_conflict(write, attempts=attempts)


def restore_epoch(root: str) -> str:
    """The current restore epoch under ``root`` ("" before any restore)."""
    found = files_for(root).read(restore_epoch_path(root))
    return str(json.loads(found[0])["epoch"]) if found else ""
