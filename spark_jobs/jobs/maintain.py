"""maintain: Delta table maintenance, per table: OPTIMIZE (Z-ORDER on configured columns), then
VACUUM with a retention guard, one row per table in the maintenance log.

The guard: a retention below 168 hours (7 days) is refused before anything runs, so time travel
within the retention window and concurrent readers of older snapshots are never broken (Delta's
own ``retentionDurationCheck`` stays on as a second line). Tables that do not exist yet are
recorded as SKIPPED; a table that fails is recorded as FAILED and the job fails after the others.
"""

from __future__ import annotations

import datetime as dt
import time

from pyspark.sql import SparkSession
from pyspark.sql.types import (
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse_contract import naming
from lakehouse_contract.naming import TableName
from lakehouse_contract.results import MaintainOutcome
from lakehouse_contract.specs import MaintainSpec
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import JobError, describe
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import run_step, start_job
from spark_jobs.storage.delta_io import create_if_missing, ensure_stats_on, retry_on_conflict
from spark_jobs.storage.tables import TableRef, ident, maintenance_log_table, table_ref

MIN_RETENTION_HOURS = 168
LOG_SCHEMA = StructType(
    [
        StructField("dag_id", StringType(), False),
        StructField("run_id", StringType(), False),
        StructField("table_name", StringType(), False),
        StructField("status", StringType(), False),  # SUCCESS | SKIPPED | FAILED
        StructField("zorder_by", StringType(), True),
        StructField("files_before", LongType(), True),
        StructField("files_after", LongType(), True),
        StructField("files_removed_by_optimize", LongType(), True),
        StructField("files_deleted_by_vacuum", LongType(), True),
        StructField("retention_hours", IntegerType(), False),
        StructField("seconds", DoubleType(), True),
        StructField("error", StringType(), True),
        StructField("finished_at", TimestampType(), False),
    ]
)


class RetentionTooShortError(JobError):
    """VACUUM was asked to keep less history than the guard allows."""


def _num_files(spark: SparkSession, ref: TableRef) -> int:
    (row,) = spark.sql(f"DESCRIBE DETAIL {ref.sql_name}").select("numFiles").collect()
    return int(row[0])


def maintain_table(spark: SparkSession, ref: TableRef, zorder: list[str], retention_hours: int) -> dict[str, object]:
    """OPTIMIZE (+ Z-ORDER by the wanted columns the table has), VACUUM; what changed."""
    if retention_hours < MIN_RETENTION_HOURS:
        raise RetentionTooShortError(
            f"VACUUM retention {retention_hours} h is below the {MIN_RETENTION_HOURS} h guard; refusing to vacuum"
        )
    if not ref.exists():
        return {"status": "SKIPPED", "error": "table does not exist yet"}
    columns = set(ref.read(spark).columns)
    order = [c for c in zorder if c in columns]
    ensure_stats_on(spark, ref, order)  # a zorder column added to the config after the table was made
    before = _num_files(spark, ref)
    optimize = f"OPTIMIZE {ref.sql_name}" + (f" ZORDER BY ({', '.join(ident(c) for c in order)})" if order else "")
    metrics = retry_on_conflict(lambda: spark.sql(optimize).select("metrics.numFilesRemoved").first())
    vacuum = f"VACUUM {ref.sql_name} RETAIN {retention_hours} HOURS"
    vacuumed = spark.sql(f"{vacuum} DRY RUN").count()  # the files the VACUUM below deletes
    spark.sql(vacuum).collect()
    return {
        "status": "SUCCESS",
        "zorder_by": ",".join(order) or None,
        "files_before": before,
        "files_after": _num_files(spark, ref),
        "files_removed_by_optimize": int(metrics[0] or 0) if metrics else 0,
        "files_deleted_by_vacuum": int(vacuumed),
    }


def _log(spark: SparkSession, ctx: RunContext, rows: list[dict[str, object]]) -> None:
    log = maintenance_log_table(ctx.tables, ctx.bronze_schema)
    create_if_missing(spark, log, LOG_SCHEMA)
    frame = spark.createDataFrame([tuple(r.get(f.name) for f in LOG_SCHEMA.fields) for r in rows], LOG_SCHEMA)
    retry_on_conflict(lambda: log.save(frame.write.mode("append")))


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, MaintainSpec)
    if spec.retention_hours < MIN_RETENTION_HOURS:  # before any table is touched
        raise RetentionTooShortError(
            f"retention_hours {spec.retention_hours} is below the {MIN_RETENTION_HOURS} h guard"
        )

    def body() -> MaintainOutcome:
        spark = get_spark(f"maintain-{ctx.table}")
        rows: list[dict[str, object]] = []
        for name in spec.tables:
            table = TableName.parse(name)
            start = time.monotonic()
            try:
                ref = table_ref(ctx.tables, table.schema, table.name)
                row = maintain_table(spark, ref, list(spec.zorder), spec.retention_hours)
            except Exception as exc:
                row = {"status": "FAILED", "error": describe(exc)}
            row.update(dag_id=ctx.dag_id, run_id=ctx.run_id, table_name=name, retention_hours=spec.retention_hours,
                       seconds=round(time.monotonic() - start, 3), finished_at=dt.datetime.now(dt.UTC))  # fmt: skip
            log.info("maintained %s: %s", name, row["status"], extra={"fields": {k: str(v) for k, v in row.items()}})
            rows.append(row)
        _log(spark, ctx, rows)
        failed = [r["table_name"] for r in rows if r["status"] == "FAILED"]
        if failed:
            raise JobError(f"maintenance failed for {failed} (see {naming.maintenance_log(ctx.schemas)})")
        return MaintainOutcome(
            tables=len(rows),
            files_before=sum(int(r.get("files_before") or 0) for r in rows),  # type: ignore[call-overload]
            files_after=sum(int(r.get("files_after") or 0) for r in rows),  # type: ignore[call-overload]
        )

    return run_step(ctx, "maintain", body, log)
