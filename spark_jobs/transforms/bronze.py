"""Pure bronze transforms: source rows as they come plus the metadata columns."""

from __future__ import annotations

import datetime as dt

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

METADATA_COLUMNS = (
    "_load_timestamp",
    "_source_system",
    "_batch_id",
    "_logical_date",
    "_record_status",
    "_processing_timestamp",
)


def with_bronze_metadata(
    df: DataFrame,
    *,
    source_system: str,
    batch_id: str,
    logical_date: dt.date,
    load_timestamp: dt.datetime,
    record_status: str = "ACTIVE",
) -> DataFrame:
    """Append the bronze metadata columns; source columns keep their names, order and values."""
    return df.select(
        *[F.col(c) for c in df.columns],
        F.lit(load_timestamp).cast("timestamp").alias("_load_timestamp"),
        F.lit(source_system).alias("_source_system"),
        F.lit(batch_id).alias("_batch_id"),
        F.lit(logical_date).cast("date").alias("_logical_date"),
        F.lit(record_status).alias("_record_status"),
        F.current_timestamp().alias("_processing_timestamp"),
    )
