"""write_bronze: landing Parquet -> Delta ``bz_<table>`` with metadata columns, one commit.

File tables: the landing folder holds extract_files' read plan; the claimed files are read from
their location here (one pass over the data).

CDC tables (``spec.cdc``): the snapshot overwrites; change rows are appended (only transactions
newer than bronze's last), then the replication slot is confirmed -- after the commit, so a crash
in between re-reads those changes and stores them once.

Full-mode tables: one overwrite commit, marked with the source's fingerprint and the batch id
(``storage/commit_marks.py``); when extract found the source unchanged since that mark, no commit
(the watermark registry still moves). Incremental tables: the logical date's slice
(``_logical_date = ds``: the window's rows plus tombstones for deleted keys; ``cadence: hourly``:
the hour's slice in it, ``_slice_start`` = the run's interval start) replaced in one
commit (``replaceWhere``). A job that dies before the commit leaves the previous table version
untouched; a rerun of the same date rewrites the same slice (no duplicates). The watermark
registry advances only after the commit. A new table keeps file statistics only on
its spec's ``stats_columns`` (keys, filter and Z-ORDER columns: the describe step's choice), not on every column.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse_contract.naming import CDC_LSN, CDC_OP, SLICE_START, SOURCE_FILE
from lakehouse_contract.results import ExtractOutcome, StepResult, WriteOutcome
from lakehouse_contract.specs import WriteBronzeSpec
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import EmptySourceError, MissingStepResultError, ReconciliationError
from spark_jobs.runtime.faults import fault_point, with_fault
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import run_step, start_job
from spark_jobs.storage import cdc, commit_marks, leases, watermarks
from spark_jobs.storage.delta_io import STATS_COLUMNS, replace_slice, sql_literal
from spark_jobs.storage.file_source import load_plan, planned_rows
from spark_jobs.storage.pgoutput import lsn_to_int
from spark_jobs.storage.results import read_result
from spark_jobs.storage.secrets import resolve_jdbc
from spark_jobs.storage.tables import TableRef, bronze_table, ident, watermark_table
from spark_jobs.transforms.bronze import with_bronze_metadata
from spark_jobs.transforms.incremental import DELETED, slice_keys, slice_timestamp, tombstones


def _bronze_frame(
    ctx: RunContext, spec: WriteBronzeSpec, extract: StepResult, done: ExtractOutcome, landing: DataFrame
) -> DataFrame:
    spark = landing.sparkSession
    meta: dict[str, Any] = {
        "source_system": spec.source_system,
        "batch_id": ctx.run_id,
        "logical_date": ctx.slice_date,
        "load_timestamp": dt.datetime.fromtimestamp(extract.finished_at or extract.started_at, dt.UTC),
    }
    out = with_bronze_metadata(landing, **meta)
    if done.deletes_path:
        gone = tombstones(spark.read.parquet(done.deletes_path), landing)
        out = out.unionByName(with_bronze_metadata(gone, **meta, record_status=DELETED))
    if done.table_load_mode == "incremental":
        out = out.withColumn("_load_mode", F.lit(done.load_mode))
    if ctx.slice_start is not None:  # cadence: hourly -- the hour of the date's slice this run owns
        out = out.withColumn(SLICE_START, slice_timestamp(ctx.slice_start))
    return with_fault(out, "write_bronze", ctx.table)


def _older_rows_of_files(done: ExtractOutcome) -> str | None:
    """File tables: the rows an earlier slice holds of files this run reloads (rewritten in place)."""
    if not done.files_replaced:
        return None
    pairs = json.loads(done.files_replaced)
    return " OR ".join(
        f"({ident('_logical_date')} = DATE{sql_literal(d)} AND {ident(SOURCE_FILE)} = {sql_literal(p)})"
        for d, p in pairs
    )


def _write_changes(done: ExtractOutcome, out: DataFrame, target: TableRef, create: dict[str, str] | None) -> int:
    """CDC tables: the snapshot replaces bronze; change rows are appended, only those of transactions
    after the last one bronze holds (a retry after a commit whose slot was not confirmed re-reads
    them: they are not stored twice). Returns the rows written; no commit when there are none."""
    out = out.withColumn(
        "_record_status", F.when(F.col(CDC_OP) == "delete", F.lit(DELETED)).otherwise(F.col("_record_status"))
    )
    if done.load_mode == "full":  # the snapshot a new slot exported
        target.save(out.write.mode("overwrite").option("overwriteSchema", "true"), create)
        return out.count()
    stored = cdc.stored_lsn(out.sparkSession, target)
    new = out.where(F.col(CDC_LSN) > F.lit(stored)) if stored is not None else out
    rows = new.count()
    if rows:
        target.save(new.write.mode("append"), create)
    return rows


def _confirm(ctx: RunContext, spec: WriteBronzeSpec, done: ExtractOutcome, log: logging.Logger) -> None:
    """After the commit: the slot may let go of what bronze now holds."""
    assert spec.cdc is not None and done.cdc_to_lsn
    fault_point("confirm", ctx.table)  # drills: the commit happened, the confirmation does not
    with cdc.connect(resolve_jdbc(spec.cdc.jdbc_secret)) as conn:
        if cdc.confirm(conn, spec.cdc.slot, lsn_to_int(done.cdc_to_lsn)):
            log.info("%s: slot %s confirmed at %s", ctx.table, spec.cdc.slot, done.cdc_to_lsn)


def _store(ctx: RunContext, spec: WriteBronzeSpec, done: ExtractOutcome, out: DataFrame, target: TableRef,
           rows: int) -> int:  # fmt: skip
    """Bronze's one commit for the table's kind; the rows it wrote."""
    create = {STATS_COLUMNS: ",".join(spec.stats_columns)} if spec.stats_columns else None
    if spec.cdc is not None:
        return _write_changes(done, out, target, create)
    if done.table_load_mode == "incremental":
        replace_slice(
            target, out, slice_keys(ctx.slice_date, ctx.slice_start), merge_schema=True, create_options=create,
            also=_older_rows_of_files(done),
        )  # fmt: skip
        return rows
    writer = out.write.mode("overwrite").option("overwriteSchema", "true")
    if done.source_fingerprint:  # what the next run compares its source with (extract.py)
        mark = {"source_fingerprint": done.source_fingerprint, "batch_id": ctx.run_id}
        writer = writer.option(commit_marks.USER_METADATA, commit_marks.mark_text(mark))
    target.save(writer, create)
    return rows


def _advance(spark: SparkSession, ctx: RunContext, spec: WriteBronzeSpec, done: ExtractOutcome, rows: int) -> bool:
    """The watermark registry moves to the window's end (after the bronze commit, never before)."""
    return watermarks.advance(
        spark,
        watermark_table(ctx.tables, ctx.bronze_schema),
        table=ctx.table,
        watermark_column=spec.watermark_column,
        high_water_mark=dt.datetime.fromisoformat(done.window_end) if done.window_end else dt.datetime.now(),
        load_mode=done.load_mode or "full",
        run_id=ctx.run_id,
        logical_date=ctx.logical_date,
        rows=rows,
        epoch=watermarks.restore_epoch(ctx.root),
    )


def _unchanged(
    spark: SparkSession, ctx: RunContext, spec: WriteBronzeSpec, done: ExtractOutcome, log: logging.Logger
) -> WriteOutcome:
    """The source still holds what bronze loaded in ``done.unchanged_since``: no bronze commit; the
    registry still records that the table is current as of this run's window."""
    target = bronze_table(ctx.tables, ctx.bronze_schema, ctx.table, ctx.schemas.bronze_prefix)
    moved = _advance(spark, ctx, spec, done, 0)
    leases.release(ctx, log)
    log.info("%s: source unchanged since batch %s: bronze not rewritten", ctx.table, done.unchanged_since)
    return WriteOutcome(rows_written=0, rows_deleted=None, load_mode=done.load_mode or "full",
                        watermark_advanced=int(moved), bronze_version=target.latest_version(spark),
                        target=target.path)  # fmt: skip


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, WriteBronzeSpec)

    def body() -> WriteOutcome:
        extract = read_result(ctx, "extract")
        if extract is None or extract.status != "SUCCESS":
            state = "missing" if extract is None else extract.status
            raise MissingStepResultError(f"extract result for run {ctx.run_id} is {state}; run extract first")
        done = ExtractOutcome.of(extract)
        spark = get_spark(f"write_bronze-{ctx.table}")
        if done.unchanged_since:
            return _unchanged(spark, ctx, spec, done, log)
        if spec.files is not None:  # the landing folder holds the read plan: read the claimed files
            landing = planned_rows(spark, spec.files, load_plan(spark, ctx.landing_path()), dict(spec.columns))
        else:
            landing = spark.read.parquet(ctx.landing_path())
        rows = landing.count()
        if rows != done.rows_read:
            what = "the planned files hold" if spec.files is not None else "landing has"
            raise ReconciliationError(
                f"{what} {rows} rows but extract recorded {done.rows_read}; rerun extract"
                + (" (a file changed after it was claimed)" if spec.files is not None else "")
            )
        mode = done.load_mode or "full"
        if rows == 0 and mode == "full" and not spec.allow_empty:
            raise EmptySourceError(f"landing for {ctx.table} is empty; refusing to overwrite bronze with 0 rows")
        target = bronze_table(ctx.tables, ctx.bronze_schema, ctx.table, ctx.schemas.bronze_prefix)
        written = _store(ctx, spec, done, _bronze_frame(ctx, spec, extract, done, landing), target, rows)
        moved = _advance(spark, ctx, spec, done, rows)
        if spec.cdc is not None:
            _confirm(ctx, spec, done, log)
        leases.release(ctx, log)  # the table is loaded: the next run may extract it
        return WriteOutcome(
            rows_written=written,
            rows_deleted=done.rows_deleted,
            load_mode=mode,
            watermark_advanced=int(moved),
            bronze_version=target.latest_version(spark),
            target=target.path,
        )

    return run_step(ctx, "write_bronze", body, log)
