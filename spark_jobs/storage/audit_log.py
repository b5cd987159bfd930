"""The audit log table: its Spark schema (derived from ``lakehouse_contract.audit``) and appends."""

from __future__ import annotations

from pyspark.sql import SparkSession
from pyspark.sql.types import (
    DataType,
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse_contract.audit import AUDIT_COLUMNS, AuditRow
from spark_jobs.storage.delta_io import retry_on_conflict
from spark_jobs.storage.tables import TableRef

SQL_TYPES: dict[str, DataType] = {
    "string": StringType(), "bigint": LongType(), "int": IntegerType(), "double": DoubleType(),
    "timestamp": TimestampType(), "date": DateType(),
}  # fmt: skip
AUDIT_SCHEMA = StructType([StructField(name, SQL_TYPES[t], nullable) for name, t, nullable in AUDIT_COLUMNS])


def append_audit(spark: SparkSession, table: TableRef, record: AuditRow) -> None:
    """Append one audit row (the log predating new columns gains them: mergeSchema)."""
    row = spark.createDataFrame([record.values()], AUDIT_SCHEMA)
    # parallel audit tasks append to one log (and may create it together): retried on a conflict
    retry_on_conflict(lambda: table.save(row.write.mode("append").option("mergeSchema", "true")))
