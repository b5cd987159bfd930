"""Idempotent Delta writes (SQL MERGE / replaceWhere), usable over Spark Connect and on Databricks.

SQL ``MERGE INTO`` is used rather than the ``DeltaTable`` Python API because the local Spark
Connect server does not load the Delta Connect plugin; the SQL form is the same on every backend.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Callable
from typing import TypeVar

from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from spark_jobs.runtime.errors import SchemaContractError
from spark_jobs.storage.tables import TableRef, ident


def sql_literal(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


# MERGE/UPDATE/DELETE mark replaced rows in deletion vectors instead of rewriting every data file
# that holds one: an incremental MERGE touching 1% of keys spread over the whole table stays cheap.
TABLE_PROPERTIES = {"delta.enableDeletionVectors": "true"}


# file statistics only on the columns readers filter, join or cluster on (set when a table is
# created): collecting min/max/null counts for every column was ~30 % of a bronze write
STATS_COLUMNS = "delta.dataSkippingStatsColumns"


def table_properties(spark: SparkSession, table: TableRef) -> dict[str, str]:
    return {r["key"]: r["value"] for r in spark.sql(f"SHOW TBLPROPERTIES {table.sql_name}").collect()}


def ensure_stats_on(spark: SparkSession, table: TableRef, columns: list[str]) -> list[str]:
    """Add ``columns`` to a table's statistics columns when it limits them (Z-ORDER needs
    statistics on its columns); the columns added."""
    listed = table_properties(spark, table).get(STATS_COLUMNS)
    if listed is None:  # Delta's default: statistics on the first 32 columns
        return []
    have = [c.strip() for c in listed.split(",") if c.strip()]
    missing = [c for c in columns if c not in have]
    if missing:
        value = sql_literal(",".join([*have, *missing]))
        spark.sql(f"ALTER TABLE {table.sql_name} SET TBLPROPERTIES ({sql_literal(STATS_COLUMNS)} = {value})")
    return missing


T = TypeVar("T")
# what Delta's optimistic concurrency control reports when another writer committed first
CONFLICTS = ("Concurrent", "ProtocolChanged", "MetadataChanged", "DELTA_PROTOCOL_CHANGED", "DELTA_METADATA_CHANGED")


def is_conflict(exc: BaseException) -> bool:
    return any(marker in str(exc) for marker in CONFLICTS)


def retry_on_conflict(action: Callable[[], T], *, attempts: int = 6) -> T:
    """Run one idempotent Delta commit, again when a concurrent writer's commit conflicts with it.

    Parallel tasks share a few small tables (audit log, DQ results, watermark registry) and may
    create them at the same moment; Delta validates commits optimistically and a failed commit
    writes nothing, so re-running the whole operation is the resolution Delta documents."""
    for attempt in range(1, attempts + 1):
        try:
            return action()
        except Exception as exc:
            if not is_conflict(exc) or attempt == attempts:
                raise
            time.sleep(0.3 * attempt + random.random() * 0.5)
    raise AssertionError("unreachable")


def create_if_missing(
    spark: SparkSession, table: TableRef, schema: StructType, *, partition_by: tuple[str, ...] = ()
) -> bool:
    """Create an empty Delta table with the contract's columns and NOT NULL constraints; True when
    it was missing (created now, here or by a concurrent writer)."""
    if table.exists():  # the common case, without a round trip to the server
        return False
    cols = ", ".join(
        f"{ident(f.name)} {f.dataType.simpleString()}{'' if f.nullable else ' NOT NULL'}" for f in schema.fields
    )
    props = ", ".join(f"{sql_literal(k)} = {sql_literal(v)}" for k, v in TABLE_PROPERTIES.items())
    parts = f" PARTITIONED BY ({', '.join(ident(c) for c in partition_by)})" if partition_by else ""
    sql = f"CREATE TABLE IF NOT EXISTS {table.sql_name} ({cols}) USING delta{parts} TBLPROPERTIES ({props})"
    table.ensure_schema(spark)
    retry_on_conflict(lambda: spark.sql(sql))
    return True


def evolve_to_contract(spark: SparkSession, table: TableRef, schema: StructType) -> list[str]:
    """Bring an existing table to the contract before a write: columns the contract added are added
    (nullable: existing rows hold NULL), anything else is refused with nothing written. A column the
    contract no longer has, or with another type, needs a decision the pipeline cannot take (drop
    the data or migrate it), so the job says which and stops. Returns the columns added."""
    if not table.exists():
        return []
    current = {f.name: f.dataType.simpleString() for f in table.read(spark).schema.fields}
    wanted = {f.name: f.dataType.simpleString() for f in schema.fields}
    where = f"{table.schema}.{table.name}"
    removed = [c for c in current if c not in wanted]
    if removed:
        raise SchemaContractError(
            f"{where} has columns {removed} that the contract no longer declares; nothing was written. Put them "
            "back in the pipeline file, or drop them from the table yourself (ALTER TABLE ... DROP COLUMN)"
        )
    retyped = [f"{c} ({current[c]} -> {t})" for c, t in wanted.items() if c in current and current[c] != t]
    if retyped:
        raise SchemaContractError(
            f"{where}: the contract changes the type of {retyped}; nothing was written. Migrate the table "
            "(or rebuild it from bronze) before loading with the new contract"
        )
    added = [f for f in schema.fields if f.name not in current]
    if added:
        cols = ", ".join(f"{ident(f.name)} {f.dataType.simpleString()}" for f in added)
        retry_on_conflict(lambda: spark.sql(f"ALTER TABLE {table.sql_name} ADD COLUMNS ({cols})"))
    return [f.name for f in added]


def merge_by_key(
    spark: SparkSession,
    table: TableRef,
    source: DataFrame,
    keys: tuple[str, ...],
    *,
    delete_missing: bool,
    new: bool = False,
) -> dict[str, int]:
    """Upsert ``source`` by ``keys``: changed rows (different ``_row_hash``) are updated, new rows
    inserted, and with ``delete_missing`` rows absent from ``source`` deleted. One commit; re-running
    the same source is a no-op. ``new``: the caller just created the table (``_merge``'s first-load
    path). Returns the MERGE metrics."""
    on = " AND ".join(f"t.{ident(k)} = s.{ident(k)}" for k in keys)
    delete = " WHEN NOT MATCHED BY SOURCE THEN DELETE" if delete_missing else ""
    changed = "WHEN MATCHED AND t._row_hash <> s._row_hash THEN UPDATE SET *"
    return _merge(spark, table, source, on, changed, "WHEN NOT MATCHED THEN INSERT *", delete, new=new)


def _empty_at(spark: SparkSession, table: TableRef) -> int | None:
    """The table's newest version when it holds no row in it, else None."""
    version = table.latest_version(spark)
    held = spark.sql(f"SELECT 1 FROM {table.sql_name} VERSION AS OF {version} LIMIT 1").collect()
    return None if held else version


def _merge(
    spark: SparkSession,
    table: TableRef,
    source: DataFrame,
    on: str,
    matched: str,
    insert: str,
    not_matched_by_source: str = "",
    *,
    new: bool,
) -> dict[str, int]:
    """Run ``MERGE INTO table USING source ON on <matched> <insert><not_matched_by_source>`` with
    ``source`` as a temporary view; its metrics.

    A first load (``new``: the caller has just created the table) into a table with no row runs the
    MERGE with its ``insert`` clause alone instead: Delta then reads the source once, without
    materialising it and joining it against the target for the update and delete clauses, which
    have nothing to match in an empty table (order_details' first silver MERGE at SF=1: 14.6 ->
    8.9 s). That is exact only when nobody committed to the table between
    the check and the insert: the table's version after it must be the checked one plus this
    commit, else the whole MERGE runs as well, and since it is idempotent the table converges to
    what it alone gives."""
    view = f"merge_src_{uuid.uuid4().hex[:12]}"
    head = f"MERGE INTO {table.sql_name} AS t USING {view} AS s ON {on}"
    source.createOrReplaceTempView(view)
    try:
        first: dict[str, int] = {}
        if new and (empty := _empty_at(spark, table)) is not None:
            first = _metrics(spark.sql(f"{head} {insert}").first())
            if first.get("num_inserted_rows") and table.latest_version(spark) == empty + 1:
                return first
        metrics = _metrics(spark.sql(f"{head} {matched} {insert}{not_matched_by_source}").first())
    finally:
        spark.catalog.dropTempView(view)
    return {k: metrics.get(k, 0) + first.get(k, 0) for k in {*metrics, *first}}


def _metrics(row: Row | None) -> dict[str, int]:
    return {k: int(v) for k, v in (row.asDict() if row else {}).items() if v is not None}


def merge_changes(
    spark: SparkSession,
    table: TableRef,
    upserts: DataFrame,
    delete_keys: DataFrame,
    keys: tuple[str, ...],
    *,
    compare: tuple[str, ...] = ("_row_hash",),
    new: bool = False,
) -> dict[str, int]:
    """One MERGE by ``keys`` (NULL-safe): ``upserts`` inserted, or updated when any ``compare``
    column differs; target rows whose key is in ``delete_keys`` deleted; every other row untouched.
    Keys in the two inputs must be disjoint. Re-running the same inputs is a no-op. ``new``: the
    caller just created the table (``_merge``'s first-load path)."""
    columns = [f.name for f in table.read(spark).schema.fields]
    # a delete key with a NULL in it names no row (silver keys are NOT NULL), and Delta 4.4 fails
    # the whole MERGE on such a source row ("Unexpected row: did not match any merge clause")
    delete_keys = delete_keys.where(" AND ".join(f"{ident(k)} IS NOT NULL" for k in keys))
    source = (
        upserts.select(*columns)
        .withColumn("_op", F.lit("upsert"))
        .unionByName(delete_keys.select(*keys).withColumn("_op", F.lit("delete")), allowMissingColumns=True)
    )
    on = " AND ".join(f"t.{ident(k)} <=> s.{ident(k)}" for k in keys)
    changed = " AND NOT (" + " AND ".join(f"t.{ident(c)} <=> s.{ident(c)}" for c in compare) + ")"
    assign = ", ".join(f"t.{ident(c)} = s.{ident(c)}" for c in columns)
    names = ", ".join(ident(c) for c in columns)
    values = ", ".join(f"s.{ident(c)}" for c in columns)
    matched = (
        "WHEN MATCHED AND s._op = 'delete' THEN DELETE "
        f"WHEN MATCHED AND s._op = 'upsert'{changed} THEN UPDATE SET {assign}"
    )
    insert = f"WHEN NOT MATCHED AND s._op = 'upsert' THEN INSERT ({names}) VALUES ({values})"
    return _merge(spark, table, source, on, matched, insert, new=new)


def replace_slice(
    table: TableRef,
    df: DataFrame,
    where: dict[str, str],
    *,
    merge_schema: bool = False,
    partition_by: tuple[str, ...] = (),
    create_options: dict[str, str] | None = None,
    also: str | None = None,
) -> None:
    """Atomically replace the rows matching every ``column = value`` of ``where``, and those matching
    the SQL predicate ``also`` when given (creating the
    table if needed, partitioned by ``partition_by``, with the table properties in
    ``create_options``); ``df`` must hold only rows of that slice. ``merge_schema`` lets new
    columns in. Writers of different partitions of a shared table do not conflict; any other
    concurrent-commit conflict is retried."""
    predicate = " AND ".join(f"{ident(col)} = {sql_literal(value)}" for col, value in where.items())
    predicate = f"({predicate}) OR ({also})" if also else predicate
    writer = df.write.mode("overwrite").option("replaceWhere", predicate)
    writer = writer.option("mergeSchema", "true") if merge_schema else writer

    def write() -> None:
        new = partition_by and not table.exists()
        table.save(writer.partitionBy(*partition_by) if new else writer, create_options)

    retry_on_conflict(write)
