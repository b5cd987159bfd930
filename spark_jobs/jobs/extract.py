"""extract: partitioned JDBC read of one source table -> landing Parquet for the logical date.

Full loads read the whole table; incremental loads the run's watermark window (see
``spark_jobs.transforms.incremental``). The source schema is checked against the contract first, and
deleted keys are found by comparing source keys with bronze when due. Every read of the source
(the count, the partitioned read, the keys) shares one exported snapshot
(``spark_jobs.storage.snapshot``). Only this run's landing partition
(``landing/<table>/logical_date=<ds>``) is replaced.

A full table's source is fingerprinted in PostgreSQL first (``jdbc.content_fingerprint``); when
bronze's newest load recorded the same fingerprint, nothing is read and the outcome names the batch
bronze already holds (``unchanged_since``): write_bronze then commits nothing and the audit
reconciles the source count against that batch. ``params.mode=full`` always reads.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse_contract.naming import SLICE_START
from lakehouse_contract.results import ExtractOutcome
from lakehouse_contract.specs import ExtractSpec
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import EmptySourceError, SourceConnectionLostError
from spark_jobs.runtime.faults import with_fault
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import run_step, start_job
from spark_jobs.storage import commit_marks, jdbc, leases, watermarks
from spark_jobs.storage.secrets import JdbcCredentials, resolve_jdbc
from spark_jobs.storage.snapshot import exported_snapshot
from spark_jobs.storage.tables import TableRef, bronze_table, watermark_table
from spark_jobs.transforms import bronze as bronze_transform
from spark_jobs.transforms.drift import check_drift
from spark_jobs.transforms.incremental import WatermarkWindow, deletes_due, effective_mode, in_slice, live_keys


def _interval(ctx: RunContext) -> tuple[str, str]:
    """The run's data interval: Airflow's, or (native Databricks run) the schedule's for the date."""
    if ctx.schedule is not None and not ctx.interval_start:
        start, end = ctx.schedule.interval_for(ctx.logical_date)
        return start.isoformat(), end.isoformat()
    return ctx.interval_start, ctx.interval_end


def _mode(spark: SparkSession, target: TableRef, ctx: RunContext, spec: ExtractSpec) -> str:
    modes: set[str] = set()
    if spec.load_mode == "incremental" and target.exists():
        bronze = target.read(spark)
        if ctx.slice_start is not None and SLICE_START not in bronze.columns:
            return effective_mode(spec.load_mode, ctx.mode, set(), True)  # the table's first hourly slice
        rows = bronze.where(in_slice(ctx.slice_date, ctx.slice_start))
        # rows without a recorded mode predate incremental loading: they were a full overwrite
        mode_col = F.col("_load_mode") if "_load_mode" in rows.columns else F.lit(None).cast("string")
        loaded = rows.select(F.coalesce(mode_col, F.lit("full")).alias("m")).distinct().collect()
        modes = {r["m"] for r in loaded}
    return effective_mode(spec.load_mode, ctx.mode, modes, target.exists())


def _detect_deletes(
    spark: SparkSession,
    target: TableRef,
    ctx: RunContext,
    creds: JdbcCredentials,
    spec: ExtractSpec,
    snapshot: str | None,
) -> int:
    """Keys live in bronze (outside this date's slice) but gone from the source -> landing; count."""
    keys = list(spec.primary_key)
    stats = jdbc.source_stats(spark, creds, spec.source, spec.partition_column, snapshot=snapshot)
    source_keys = jdbc.read_table(
        spark, creds, spec.source, keys, stats, spec.partition_column, spec.num_partitions, spec.fetch_size,
        snapshot=snapshot,
    )  # fmt: skip
    bronze = target.read(spark)
    slice_start = ctx.slice_start if SLICE_START in bronze.columns else None  # none before the first hourly slice
    gone = live_keys(bronze, keys, ctx.slice_date, slice_start).join(source_keys, keys, "left_anti")
    gone.write.mode("overwrite").parquet(ctx.deletes_path())
    return spark.read.parquet(ctx.deletes_path()).count()


def _window(
    spark: SparkSession, ctx: RunContext, spec: ExtractSpec, mode: str, log: logging.Logger
) -> tuple[WatermarkWindow | None, str | None]:
    """The run's watermark window (look-back and gaps applied), and the mark it resumed from."""
    start, end = _interval(ctx)
    if spec.load_mode != "incremental" and not ctx.interval_end:
        return None, None
    window = WatermarkWindow.from_interval(start, end, spec.source_timezone)
    if mode != "incremental":
        return window, None
    mark = watermarks.current(spark, watermark_table(ctx.tables, ctx.bronze_schema), ctx.table)
    resumed = None
    if mark is not None and mark < window.start:
        resumed = mark.isoformat()
        log.warning("%s: no load since %s (an interval never ran): this run reads from there", ctx.table, mark)
    return window.extended(dt.timedelta(minutes=spec.lookback_minutes), mark), resumed


@dataclass(frozen=True)
class _Read:
    stats: jdbc.SourceStats
    deleted: int | None
    fingerprint: str | None  # full tables: what bronze's commit records (storage/commit_marks.py)
    unchanged_since: str | None  # the batch bronze holds when the source has not changed since it


def _fingerprint(spark: SparkSession, creds: JdbcCredentials, spec: ExtractSpec, columns: list[str],
                 snapshot: str | None) -> str | None:  # fmt: skip
    """The source rows' fingerprint with the shape bronze gives them (the columns read, the bronze
    code): a new column or a changed bronze transform reloads an unchanged source."""
    code = commit_marks.code_digest(bronze_transform)
    if code is None:
        return None
    content = jdbc.content_fingerprint(spark, creds, spec.source, columns, snapshot)
    return f"{content}:{commit_marks.digest({'columns': ','.join(columns), 'code': code})}"


def _unchanged_since(spark: SparkSession, target: TableRef, fingerprint: str | None) -> str | None:
    """The batch id bronze's newest load recorded with this same fingerprint, else None."""
    held = commit_marks.last_data_commit(spark, target) if fingerprint else None
    if held is None or held.mark.get("source_fingerprint") != fingerprint:
        return None
    return held.mark.get("batch_id") or None


def _read(
    spark: SparkSession,
    ctx: RunContext,
    spec: ExtractSpec,
    creds: JdbcCredentials,
    target: TableRef,
    mode: str,
    where: str | None,
    columns: list[str],
    detect: bool,
) -> _Read:
    """The count, the partitioned read into landing and the delete detection, in one snapshot. A
    full table whose source still has the rows bronze's last load recorded is not read (unless the
    run asks for a full reload: ``params.mode=full``)."""
    with exported_snapshot(creds) as snapshot:  # every read below sees the source at one moment
        stats = jdbc.source_stats(spark, creds, spec.source, spec.partition_column, where, snapshot)
        if stats.row_count == 0 and mode == "full" and not spec.allow_empty:
            raise EmptySourceError(
                f"source table {spec.source} is empty; refusing to load 0 rows (set allow_empty: true to permit)"
            )
        fingerprint = _fingerprint(spark, creds, spec, columns, snapshot) if spec.load_mode == "full" else None
        unchanged = _unchanged_since(spark, target, fingerprint) if ctx.mode != "full" else None
        if unchanged:
            return _Read(stats, None, fingerprint, unchanged)
        df = jdbc.read_table(
            spark, creds, spec.source, columns, stats, spec.partition_column, spec.num_partitions,
            spec.fetch_size, where, snapshot,
        )  # fmt: skip
        with_fault(df, "extract", ctx.table).write.mode("overwrite").parquet(ctx.landing_path())
        deleted = _detect_deletes(spark, target, ctx, creds, spec, snapshot) if detect else None
    return _Read(stats, deleted, fingerprint, None)


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, ExtractSpec)

    def body() -> ExtractOutcome:
        spark = get_spark(f"extract-{ctx.table}")
        creds = resolve_jdbc(spec.jdbc_secret)
        contract = dict(spec.columns)
        drift = check_drift(spec.source, contract, jdbc.source_columns(spark, creds, spec.source))
        target = bronze_table(ctx.tables, ctx.bronze_schema, ctx.table, ctx.schemas.bronze_prefix)
        mode = _mode(spark, target, ctx, spec)
        window, resumed = _window(spark, ctx, spec, mode, log)
        where = window.predicate(spec.watermark_column) if window and mode == "incremental" else None
        columns = [*contract, *(c for c, _ in drift.added)]
        detect = (
            spec.load_mode == "incremental"
            and target.exists()
            and deletes_due(spec.delete_detection, mode, ctx.logical_date)
        )
        leases.acquire(ctx, log)  # one load of the table at a time (storage/leases.py)
        try:
            read = _read(spark, ctx, spec, creds, target, mode, where, columns, detect)
        except Exception as exc:
            lost = jdbc.connection_lost(exc)
            if lost is None:
                raise
            raise SourceConnectionLostError(
                f"the connection to the source was lost while reading {spec.source} ({lost}: the server "
                "restarted or the network dropped); bronze is untouched: retry the task once the source is up"
            ) from exc
        if read.unchanged_since:
            log.info("%s: the source holds the rows bronze loaded in %s: nothing read", ctx.table,
                     read.unchanged_since)  # fmt: skip
        rows = 0 if read.unchanged_since else spark.read.parquet(ctx.landing_path()).count()
        return ExtractOutcome(
            source_row_count=read.stats.row_count,
            rows_read=rows,
            landing_path=ctx.landing_path(),
            load_mode=mode,
            table_load_mode=spec.load_mode,
            window_start=window.start.isoformat() if window else None,
            window_end=window.end.isoformat() if window else None,
            rows_deleted=read.deleted,
            deletes_path=ctx.deletes_path() if detect else None,
            schema_changes=drift.describe(),
            resumed_from=resumed,
            source_fingerprint=read.fingerprint,
            unchanged_since=read.unchanged_since,
        )

    return run_step(ctx, "extract", body, log)
