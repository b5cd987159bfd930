"""extract_cdc: a CDC table's changes since its slot's confirmed position -> landing Parquet.

First use (no bronze table yet), or a re-snapshot (``mode=full``): the publication and the slot are
created and the table is read in the snapshot the slot exports, every row a ``snapshot`` change at
the slot's consistent point. Then each run peeks the committed transactions after the confirmed
position (``spark_jobs.storage.cdc``): one change row per insert, update and delete (``_op``,
``_lsn``, ``_seq``, ``_commit_timestamp`` and the row image; an update that changed the key is a
delete of the old key, then the update). The slot is not moved here: write_bronze confirms it
after its commit. Contract columns are read by name from the log's own description of the table;
one missing there (dropped at the source) stops the run before anything is written.
"""

from __future__ import annotations

import datetime as dt
import logging
from zoneinfo import ZoneInfo

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StringType, StructField, StructType

from lakehouse_contract.naming import CDC_COLUMNS, CDC_COMMIT_TIMESTAMP, CDC_LSN, CDC_OP, CDC_SEQ
from lakehouse_contract.results import ExtractOutcome
from lakehouse_contract.specs import ExtractCdcSpec
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import CdcSetupError, EmptySourceError, SchemaDriftError
from spark_jobs.runtime.faults import with_fault
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import run_step, start_job
from spark_jobs.storage import cdc, jdbc, leases
from spark_jobs.storage.pgoutput import DELETE, INSERT, Change, Decoder, int_to_lsn
from spark_jobs.storage.secrets import JdbcCredentials, resolve_jdbc
from spark_jobs.storage.tables import TableRef, bronze_table
from spark_jobs.transforms.drift import check_drift

OP_NAMES = {INSERT: "insert", "U": "update", DELETE: "delete"}
SNAPSHOT_OP = "snapshot"


def _typed(df: DataFrame, columns: dict[str, str]) -> DataFrame:
    """Text values (the log's) and the CDC columns cast to their contract types."""
    return df.select(
        *[F.col(c).cast(t).alias(c) for c, t in columns.items()],
        *[F.col(c).cast(t).alias(c) for c, t in CDC_COLUMNS.items()],
    )


def change_frame(spark: SparkSession, changes: list[Change], columns: dict[str, str]) -> DataFrame:
    """The change rows as a DataFrame: the row image (contract columns) and the CDC columns."""
    names = [*columns, *CDC_COLUMNS]
    schema = StructType([StructField(n, StringType()) for n in names])
    rows = [
        (
            *(c.values.get(col) for col in columns),
            OP_NAMES[c.op],
            str(c.lsn),
            str(c.seq),
            c.commit_time.strftime("%Y-%m-%d %H:%M:%S.%f"),
        )
        for c in changes
    ]
    return _typed(spark.createDataFrame(rows, schema), columns)


def _check_log_columns(decoder: Decoder, source: str, columns: dict[str, str]) -> tuple[str, ...]:
    """Every description of the table in the log holds the contract's columns; the extra ones it
    holds (added at the source) are reported, not loaded."""
    extra: dict[str, None] = {}
    for rel in decoder.relations.values():
        if rel.qualified != source:
            continue
        missing = [c for c in columns if c not in rel.columns]
        if missing:
            raise SchemaDriftError(
                f"source schema of {source} no longer matches its contract: the change log describes it "
                f"without {', '.join(missing)}. Nothing was written and the slot did not move; update the "
                "table's columns in the pipeline config (or the source), or re-snapshot with mode=full."
            )
        extra.update(dict.fromkeys(c for c in rel.columns if c not in columns))
    return tuple(extra)


def _snapshot(
    spark: SparkSession, ctx: RunContext, spec: ExtractCdcSpec, creds: JdbcCredentials, log: logging.Logger
) -> tuple[int, int]:
    """(Re)create the slot and land the table as of the snapshot it exports: (rows, consistent point)."""
    with cdc.connect(creds) as conn:
        cdc.ensure_publication(conn, spec.cdc.publication, spec.cdc.source)
        cdc.drop_slot(conn, spec.cdc.slot)
    with cdc.new_slot(creds, spec.cdc.slot) as (snapshot, lsn):
        stats = jdbc.source_stats(spark, creds, spec.cdc.source, spec.partition_column, snapshot=snapshot)
        if stats.row_count == 0 and not spec.allow_empty:
            raise EmptySourceError(
                f"source table {spec.cdc.source} is empty; refusing to load 0 rows (set allow_empty: true to permit)"
            )
        df = jdbc.read_table(
            spark, creds, spec.cdc.source, list(spec.columns), stats, spec.partition_column, spec.num_partitions,
            spec.fetch_size, snapshot=snapshot,
        )  # fmt: skip
        now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
        rows = df.select(
            *spec.columns,
            F.lit(SNAPSHOT_OP).alias(CDC_OP), F.lit(lsn).cast("bigint").alias(CDC_LSN),
            F.lit(0).alias(CDC_SEQ), F.lit(now).cast("timestamp").alias(CDC_COMMIT_TIMESTAMP),
        )  # fmt: skip
        with_fault(rows, "extract", ctx.table).write.mode("overwrite").parquet(ctx.landing_path())
    log.info("%s: snapshot of %d rows at %s", ctx.table, stats.row_count, int_to_lsn(lsn))
    return stats.row_count, lsn


def _changes(
    spark: SparkSession, ctx: RunContext, spec: ExtractCdcSpec, creds: JdbcCredentials, target: TableRef
) -> tuple[list[Change], int, int, Decoder, tuple[str, ...]]:
    """Land the changes after the confirmed position: (changes, from, to, decoder, extra columns)."""
    stored = cdc.stored_lsn(spark, target)
    with cdc.connect(creds) as conn:
        slot = cdc.slot(conn, spec.cdc.slot)
        if slot.confirmed_lsn is None or slot.wal_status == "lost":
            why = "is gone (dropped)" if slot.confirmed_lsn is None else "lost WAL it needed (max_slot_wal_keep_size)"
            raise CdcSetupError(
                f"replication slot {spec.cdc.slot} of {spec.cdc.source} {why}: the changes since the last "
                "run cannot be read. Re-snapshot the table: trigger the DAG with mode=full for it"
            )
        if stored is None or slot.confirmed_lsn > stored:
            # the slot is past what bronze holds: a restored bronze table, a re-snapshot whose bronze
            # write never landed, or a slot moved by hand -- reading on would lose those changes
            raise CdcSetupError(
                f"replication slot {spec.cdc.slot} is at {int_to_lsn(slot.confirmed_lsn)} but bronze "
                f"{target.schema}.{target.name} holds changes up to "
                f"{int_to_lsn(stored) if stored is not None else 'none'}: the changes in between are no "
                "longer in the slot. Re-snapshot the table: trigger the DAG with mode=full for it"
            )
        decoder = cdc.peek(conn, spec.cdc.slot, spec.cdc.publication, spec.max_changes)
    extra = _check_log_columns(decoder, spec.cdc.source, spec.columns)
    ours = [c for c in decoder.changes if c.relation == spec.cdc.source]
    frame = change_frame(spark, ours, spec.columns)
    with_fault(frame, "extract", ctx.table).write.mode("overwrite").parquet(ctx.landing_path())
    return ours, slot.confirmed_lsn, max(decoder.end_lsn or 0, slot.confirmed_lsn), decoder, extra


def _commit_mark(when: dt.datetime | None, zone: str) -> str | None:
    """The last commit time as the watermark registry keeps marks: naive, in the source's zone."""
    return when.astimezone(ZoneInfo(zone)).replace(tzinfo=None).isoformat() if when else None


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, ExtractCdcSpec)

    def body() -> ExtractOutcome:
        spark = get_spark(f"extract-{ctx.table}")
        creds = resolve_jdbc(spec.cdc.jdbc_secret)
        with cdc.connect(creds) as conn:
            cdc.check_source(conn)
        drift = check_drift(spec.cdc.source, dict(spec.columns), jdbc.source_columns(spark, creds, spec.cdc.source))
        target = bronze_table(ctx.tables, ctx.bronze_schema, ctx.table, ctx.schemas.bronze_prefix)
        leases.acquire(ctx, log)  # one load of the table at a time (storage/leases.py)
        if ctx.mode == "full" or not target.exists():
            rows, lsn = _snapshot(spark, ctx, spec, creds, log)
            return ExtractOutcome(
                source_row_count=rows, rows_read=rows, landing_path=ctx.landing_path(), load_mode="full",
                table_load_mode="cdc", window_start=None, window_end=_commit_mark(dt.datetime.now(dt.UTC),
                spec.source_timezone), rows_deleted=None, deletes_path=None,
                schema_changes=drift.describe(), cdc_from_lsn=int_to_lsn(lsn), cdc_to_lsn=int_to_lsn(lsn),
            )  # fmt: skip
        ours, start, end, decoder, extra = _changes(spark, ctx, spec, creds, target)
        rows, last = len(ours), max((c.commit_time for c in ours), default=None)
        log.info("%s: %d changes in %d transactions, %s -> %s", ctx.table, rows, decoder.transactions,
                 int_to_lsn(start), int_to_lsn(end))  # fmt: skip
        added = f"added in the change log (not loaded): {', '.join(extra)}" if extra else None
        return ExtractOutcome(
            # the audit reconciles this count (every change, deletes included) with bronze's log range
            source_row_count=rows, rows_read=rows, landing_path=ctx.landing_path(), load_mode="incremental",
            table_load_mode="cdc", window_start=None, window_end=_commit_mark(last, spec.source_timezone),
            rows_deleted=sum(1 for c in ours if c.op == DELETE), deletes_path=None,
            schema_changes="; ".join(s for s in (drift.describe(), added) if s) or None,
            cdc_from_lsn=int_to_lsn(start), cdc_to_lsn=int_to_lsn(end),
        )  # fmt: skip

    return run_step(ctx, "extract", body, log)
