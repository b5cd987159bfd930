"""Logical table names -> storage.

Two ways to store the same tables, chosen per environment:
* path-based Delta tables under the lakehouse root (``<root>/<schema>/<table>``): the local default,
  no shared metastore, so parallel jobs never contend for a Derby lock;
* catalog tables ``<catalog>.<schema>.<table>`` (Unity Catalog on Databricks, ``--catalog``): read
  and written by name, the catalog owns the files. Landing files and step results stay under the
  lakehouse root (a volume) either way.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pyspark.sql import DataFrame, DataFrameWriter, SparkSession

from spark_jobs.lib.storage import local_path


def ident(name: str) -> str:
    """A SQL identifier, back-quoted."""
    return "`" + name.replace("`", "``") + "`"


@dataclass(frozen=True)
class TableLocation:
    """Where a run's tables live: a directory (path-based), or a catalog when ``catalog`` is set."""

    root: str
    catalog: str | None = None


Location = TableLocation | str  # a plain string is a lakehouse root directory


def _location(where: Location) -> TableLocation:
    return where if isinstance(where, TableLocation) else TableLocation(where)


@dataclass(frozen=True)
class TableRef:
    schema: str
    name: str
    root: str
    catalog: str | None = None

    @property
    def path(self) -> str:
        """Path-based: the table's directory. Catalog: its three-part name (for messages)."""
        if self.catalog:
            return f"{self.catalog}.{self.schema}.{self.name}"
        return local_path(f"{self.root.rstrip('/')}/{self.schema}/{self.name}")

    @property
    def sql_name(self) -> str:
        if self.catalog:
            return f"{ident(self.catalog)}.{ident(self.schema)}.{ident(self.name)}"
        return f"delta.`{self.path}`"

    def exists(self) -> bool:
        if self.catalog:
            return SparkSession.active().catalog.tableExists(f"{self.catalog}.{self.schema}.{self.name}")
        return (Path(self.path) / "_delta_log").is_dir()

    def read(self, spark: SparkSession) -> DataFrame:
        if self.catalog:
            return spark.read.table(self.sql_name)
        return spark.read.format("delta").load(self.path)

    def save(self, writer: DataFrameWriter, create_options: dict[str, str] | None = None) -> None:
        """Write; ``create_options`` (table properties) apply only when the write creates the table."""
        if create_options and not self.exists():
            writer = writer.options(**create_options)
        if self.catalog:
            self.ensure_schema(SparkSession.active())
            writer.format("delta").saveAsTable(self.sql_name)
        else:
            writer.format("delta").save(self.path)

    def ensure_schema(self, spark: SparkSession) -> None:
        """Catalog tables: create the schema when missing (path-based: nothing to do)."""
        if self.catalog:
            spark.sql(f"CREATE SCHEMA IF NOT EXISTS {ident(self.catalog)}.{ident(self.schema)}")

    def latest_version(self, spark: SparkSession) -> int:
        row = spark.sql(f"DESCRIBE HISTORY {self.sql_name} LIMIT 1").select("version").collect()[0]
        return int(row["version"])


def table_ref(where: Location, schema: str, name: str) -> TableRef:
    loc = _location(where)
    return TableRef(schema, name, loc.root, loc.catalog)


def bronze_table(where: Location, schema: str, table: str) -> TableRef:
    return table_ref(where, schema, f"bz_{table}")


def audit_table(where: Location, schema: str, name: str = "bz_audit_log") -> TableRef:
    return table_ref(where, schema, name)


def silver_table(where: Location, schema: str, table: str) -> TableRef:
    return table_ref(where, schema, table)


def quarantine_table(where: Location, schema: str, table: str) -> TableRef:
    return table_ref(where, schema, f"{table}_quarantine")


def dq_results_table(where: Location, schema: str) -> TableRef:
    return table_ref(where, schema, "dq_results")


def gold_table(where: Location, schema: str, model: str) -> TableRef:
    return table_ref(where, schema, model)


def watermark_table(where: Location, schema: str) -> TableRef:
    return table_ref(where, schema, "bz_watermarks")
