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

from pyspark.sql import DataFrame, DataFrameWriter, SparkSession

from lakehouse_contract import naming
from lakehouse_contract.naming import Schemas
from spark_jobs.storage.files import files_for
from spark_jobs.storage.paths import local_path


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
    def location(self) -> naming.Location:
        return naming.Location(self.root, catalog=self.catalog)

    @property
    def path(self) -> str:
        """Path-based: the table's directory. Catalog: its three-part name (for messages)."""
        name = naming.TableName(self.schema, self.name)
        return self.location.qualified(name) if self.catalog else local_path(self.location.path(name))

    @property
    def sql_name(self) -> str:
        if self.catalog:
            return f"{ident(self.catalog)}.{ident(self.schema)}.{ident(self.name)}"
        return f"delta.`{self.path}`"

    def exists(self) -> bool:
        if self.catalog:
            return SparkSession.active().catalog.tableExists(self.path)
        # a commit (or checkpoint) file: a write that failed before its first commit can leave
        # data files and an empty `_delta_log/_staged_commits` behind, which is not a table
        return files_for(self.path).exists_with_prefix(f"{self.path}/_delta_log/0")

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


def named(where: Location, table: naming.TableName) -> TableRef:
    return table_ref(where, table.schema, table.name)


def bronze_table(where: Location, schema: str, table: str, prefix: str = naming.BRONZE_PREFIX) -> TableRef:
    return named(where, naming.bronze(Schemas(bronze=schema, bronze_prefix=prefix), table))


def audit_table(where: Location, schema: str, name: str = naming.AUDIT_LOG) -> TableRef:
    return named(where, naming.audit_log(Schemas(bronze=schema), name))


def silver_table(where: Location, schema: str, table: str) -> TableRef:
    return named(where, naming.silver(Schemas(silver=schema), table))


def quarantine_table(where: Location, schema: str, table: str) -> TableRef:
    return named(where, naming.quarantine(Schemas(silver=schema), table))


def history_table(where: Location, schema: str, table: str) -> TableRef:
    return named(where, naming.history(Schemas(silver=schema), table))


def dq_results_table(where: Location, schema: str) -> TableRef:
    return named(where, naming.dq_results(Schemas(silver=schema)))


def gold_table(where: Location, schema: str, model: str) -> TableRef:
    return named(where, naming.gold(Schemas(gold=schema), model))


def gold_input_table(where: Location, schema: str, name: str) -> TableRef:
    """A gold model's input: a silver table or a control table (``naming.CONTROL_INPUTS``)."""
    return named(where, naming.gold_input(Schemas(silver=schema), name))


def watermark_table(where: Location, schema: str) -> TableRef:
    return named(where, naming.watermarks(Schemas(bronze=schema)))


def maintenance_log_table(where: Location, schema: str) -> TableRef:
    return named(where, naming.maintenance_log(Schemas(bronze=schema)))


def file_manifest_table(where: Location, schema: str) -> TableRef:
    return named(where, naming.file_manifest(Schemas(bronze=schema)))
