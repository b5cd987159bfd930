"""The audit log table: its Spark schema (derived from ``lakehouse_contract.audit``) and appends."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql.types import StructField, StructType

from lakehouse_contract.audit import AUDIT_COLUMNS, AuditRow
from spark_jobs.storage.delta_io import retry_on_conflict
from spark_jobs.storage.tables import TableRef
from spark_jobs.transforms.schema import spark_type

AUDIT_SCHEMA = StructType([StructField(name, spark_type(t), nullable) for name, t, nullable in AUDIT_COLUMNS])


def append_audit(spark: SparkSession, table: TableRef, record: AuditRow) -> None:
    """Append one audit row (the log predating new columns gains them: mergeSchema)."""
    row = spark.createDataFrame([record.values()], AUDIT_SCHEMA)
    # parallel audit tasks append to one log (and may create it together): retried on a conflict
    retry_on_conflict(lambda: table.save(row.write.mode("append").option("mergeSchema", "true")))
