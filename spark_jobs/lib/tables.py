"""Logical table names -> storage. Locally: path-based Delta tables under the lakehouse root
(no shared metastore, so parallel jobs never contend for a Derby lock)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, DataFrameWriter, SparkSession

from spark_jobs.lib.storage import local_path


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str
    root: str

    @property
    def path(self) -> str:
        return local_path(f"{self.root.rstrip('/')}/{self.schema}/{self.name}")

    @property
    def sql_name(self) -> str:
        return f"delta.`{self.path}`"

    def exists(self) -> bool:
        return (Path(self.path) / "_delta_log").is_dir()

    def read(self, spark: SparkSession) -> DataFrame:
        return spark.read.format("delta").load(self.path)

    def save(self, writer: DataFrameWriter) -> None:
        writer.format("delta").save(self.path)

    def latest_version(self, spark: SparkSession) -> int:
        row = spark.sql(f"DESCRIBE HISTORY {self.sql_name} LIMIT 1").select("version").collect()[0]
        return int(row["version"])


def bronze_table(root: str, schema: str, table: str) -> TableRef:
    return TableRef(schema, f"bz_{table}", root)


def audit_table(root: str, schema: str, name: str = "bz_audit_log") -> TableRef:
    return TableRef(schema, name, root)


def silver_table(root: str, schema: str, table: str) -> TableRef:
    return TableRef(schema, table, root)


def quarantine_table(root: str, schema: str, table: str) -> TableRef:
    return TableRef(schema, f"{table}_quarantine", root)


def dq_results_table(root: str, schema: str) -> TableRef:
    return TableRef(schema, "dq_results", root)


def gold_table(root: str, schema: str, model: str) -> TableRef:
    return TableRef(schema, model, root)


def watermark_table(root: str, schema: str) -> TableRef:
    return TableRef(schema, "bz_watermarks", root)
