"""Table names of every layer, and where a named table is stored. The only place they are spelled.

Logical names are ``<schema>.<table>``: ``<bronze>.bz_<table>`` (the prefix is the pipeline's), ``<silver>.<table>``,
``<silver>.<table>_quarantine``, ``<silver>.<table>_history`` (``silver.history: scd2``), ``<gold>.<model>``; the control tables are the audit log
(``<bronze>.bz_audit_log`` unless configured), the watermark registry ``<bronze>.bz_watermarks``,
the maintenance log ``<bronze>.bz_maintenance_log`` and the DQ results ``<silver>.dq_results``.

Storage (:class:`Location`): path-based Delta tables at ``<root>/<schema>/<table>``, or, with a
catalog, the catalog table ``<catalog>.<schema>.<table>`` (Unity Catalog on Databricks).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

IDENTIFIER = r"^[a-z_][a-z0-9_]*$"  # table, column, schema and rule names of a pipeline file

BRONZE_PREFIX = "bz_"
QUARANTINE_SUFFIX = "_quarantine"
HISTORY_SUFFIX = "_history"  # silver.history: scd2 -- every version of a row
VALID_FROM, VALID_TO, IS_CURRENT = "_valid_from", "_valid_to", "_is_current"
ASSET_SCHEME = "x-lakehouse"  # Airflow Asset URIs of the tables (x-: a scheme of our own, kept as is)
AUDIT_LOG = "bz_audit_log"  # default; a pipeline may name its own (lakehouse.audit_table)
WATERMARKS = "bz_watermarks"
MAINTENANCE_LOG = "bz_maintenance_log"
FILE_MANIFEST = "bz_file_manifest"  # file sources: every file seen, the slice that owns it
RESCUED_DATA = "_rescued_data"  # file sources: values that did not fit the contract, as JSON {column: text}
SOURCE_FILE = "_source_file"
# cadence: hourly -- a date's bronze slice is made of hourly slices: the start (UTC) of the data
# interval of the run that loaded the row; a rerun of that hour replaces exactly its rows
SLICE_START = "_slice_start"
FILE_MODIFICATION_TIME = "_file_modification_time"
DQ_RESULTS = "dq_results"
CONTROL_INPUTS = (DQ_RESULTS,)  # gold inputs that are control tables, not silver tables

LAYERS = ("bronze", "silver", "gold")
# the column types a contract may declare (pipeline files) and the Spark side parses
SIMPLE_TYPES = ("string", "int", "bigint", "smallint", "double", "float", "boolean", "date", "timestamp")
DECIMAL_TYPE = r"decimal\((\d+),\s*(\d+)\)"
CONTRACT_TYPE = rf"^({'|'.join(SIMPLE_TYPES)}|{DECIMAL_TYPE})$"
# silver: the contract columns whose bronze value did not fit the contract type (a decimal over its
# precision, text that is no number); each such column has a generated quarantine rule
CAST_FAILED = "_cast_failed"
FITS_SUFFIX = "_fits_contract"


def fits_rule(column: str) -> str:
    """The generated rule quarantining a row whose ``column`` does not fit the contract type."""
    return f"{column}{FITS_SUFFIX}"


# change data capture: the columns a change row carries in bronze besides the row image
CDC_OP = "_op"  # insert | update | delete | snapshot (the row read by the initial snapshot)
CDC_LSN = "_lsn"  # the commit LSN of the change's transaction (64-bit position: orders transactions)
CDC_SEQ = "_seq"  # the change's position inside its transaction
CDC_COMMIT_TIMESTAMP = "_commit_timestamp"  # when the transaction committed (UTC)
CDC_COLUMNS = {CDC_OP: "string", CDC_LSN: "bigint", CDC_SEQ: "int", CDC_COMMIT_TIMESTAMP: "timestamp"}


def cdc_slot(pipeline: str, table: str) -> str:
    """The logical replication slot (and publication) of a CDC table: ``lakehouse_<pipeline>_<table>``,
    at most 63 characters (PostgreSQL's limit; longer names end in a stable hash)."""
    name = re.sub(r"[^a-z0-9_]", "_", f"lakehouse_{pipeline}_{table}".lower())
    if len(name) <= 63:
        return name
    return f"{name[:54]}_{hashlib.sha1(name.encode()).hexdigest()[:8]}"


def is_identifier(name: str) -> bool:
    return re.match(IDENTIFIER, name) is not None


@dataclass(frozen=True)
class Schemas:
    """The schema of each layer."""

    bronze: str = "inventory_bronze"
    silver: str = "inventory_silver"
    gold: str = "inventory_gold"
    bronze_prefix: str = BRONZE_PREFIX  # bronze table of source table t: <bronze>.<bronze_prefix><t>


@dataclass(frozen=True)
class TableName:
    schema: str
    name: str

    def __str__(self) -> str:
        return f"{self.schema}.{self.name}"

    @property
    def asset_uri(self) -> str:
        """The table's Airflow Asset URI, the same in every environment and on every backend
        (``x-lakehouse://<schema>/<table>``): lineage follows the table, not where it is stored."""
        return f"{ASSET_SCHEME}://{self.schema}/{self.name}"

    @classmethod
    def parse(cls, qualified: str) -> TableName:
        schema, dot, name = qualified.partition(".")
        if not dot or not schema or not name:
            raise ValueError(f"{qualified!r} is not a schema.table name")
        return cls(schema, name)


def bronze(schemas: Schemas, table: str) -> TableName:
    return TableName(schemas.bronze, f"{schemas.bronze_prefix}{table}")


def silver(schemas: Schemas, table: str) -> TableName:
    return TableName(schemas.silver, table)


def quarantine(schemas: Schemas, table: str) -> TableName:
    return TableName(schemas.silver, f"{table}{QUARANTINE_SUFFIX}")


def history(schemas: Schemas, table: str) -> TableName:
    return TableName(schemas.silver, f"{table}{HISTORY_SUFFIX}")


def gold(schemas: Schemas, model: str) -> TableName:
    return TableName(schemas.gold, model)


def audit_log(schemas: Schemas, name: str = AUDIT_LOG) -> TableName:
    return TableName(schemas.bronze, name)


def watermarks(schemas: Schemas) -> TableName:
    return TableName(schemas.bronze, WATERMARKS)


def maintenance_log(schemas: Schemas) -> TableName:
    return TableName(schemas.bronze, MAINTENANCE_LOG)


def file_manifest(schemas: Schemas) -> TableName:
    return TableName(schemas.bronze, FILE_MANIFEST)


def dq_results(schemas: Schemas) -> TableName:
    return TableName(schemas.silver, DQ_RESULTS)


def gold_input(schemas: Schemas, name: str) -> TableName:
    """A gold model's input: a silver table, or a control table named in ``CONTROL_INPUTS``."""
    return dq_results(schemas) if name == DQ_RESULTS else silver(schemas, name)


def source_tables(schemas: Schemas, table: str, with_silver: bool, with_history: bool = False) -> list[TableName]:
    """The tables one source table fills: bronze, and its silver and quarantine (and history) tables."""
    names = [bronze(schemas, table)]
    if with_silver:
        names += [silver(schemas, table), quarantine(schemas, table)]
    if with_silver and with_history:
        names.append(history(schemas, table))
    return names


def control_tables(schemas: Schemas, audit_name: str = AUDIT_LOG) -> list[TableName]:
    return [audit_log(schemas, audit_name), watermarks(schemas), dq_results(schemas), maintenance_log(schemas)]


@dataclass(frozen=True)
class Location:
    """Where a pipeline's tables live: under ``root``, or in ``catalog`` when it is set."""

    root: str
    schemas: Schemas = Schemas()
    catalog: str | None = None

    def path(self, table: TableName) -> str:
        """The table's directory (path-based storage)."""
        return f"{self.root.rstrip('/')}/{table.schema}/{table.name}"

    def qualified(self, table: TableName) -> str:
        """``<catalog>.<schema>.<table>`` (catalog storage)."""
        if not self.catalog:
            raise ValueError("no catalog: tables are path-based")
        return f"{self.catalog}.{table.schema}.{table.name}"
