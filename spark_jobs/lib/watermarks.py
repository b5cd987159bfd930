"""Watermark registry: one row per table with the last committed high-water mark.

Written by write_bronze *after* the bronze commit, by a MERGE that only moves the mark forward:
a retry or rerun of the same run (or of an older date) leaves it where it is.
"""

from __future__ import annotations

import datetime as dt
import uuid

from pyspark.sql import SparkSession
from pyspark.sql.types import (
    DateType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampNTZType,
    TimestampType,
)

from spark_jobs.lib.delta_io import create_if_missing, retry_on_conflict
from spark_jobs.lib.tables import TableRef

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
    attempts: int = 5,
) -> bool:
    """Move ``table``'s mark to ``high_water_mark`` if that is later; True when it moved.

    Parallel write_bronze tasks MERGE into the same small table: a concurrent-commit conflict is
    retried (the MERGE is idempotent)."""
    create_if_missing(spark, registry, REGISTRY_SCHEMA)
    row = spark.createDataFrame(
        [(table, watermark_column, high_water_mark, load_mode, run_id, logical_date, rows, dt.datetime.now(dt.UTC))],
        REGISTRY_SCHEMA,
    )
    view = f"wm_{table}_{uuid.uuid4().hex[:8]}"
    row.createOrReplaceTempView(view)
    sql = (
        f"MERGE INTO {registry.sql_name} AS t USING {view} AS s ON t.table_name = s.table_name "
        "WHEN MATCHED AND s.high_water_mark > t.high_water_mark THEN UPDATE SET * "
        "WHEN NOT MATCHED THEN INSERT *"
    )
    try:
        result = retry_on_conflict(lambda: spark.sql(sql).first(), attempts=attempts)
    finally:
        spark.catalog.dropTempView(view)
    return bool(result and (result["num_updated_rows"] or result["num_inserted_rows"]))
