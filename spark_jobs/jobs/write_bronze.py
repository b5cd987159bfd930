"""write_bronze: landing Parquet -> Delta ``bz_<table>`` with metadata columns, one commit.

Full-mode tables: one overwrite commit. Incremental tables: the logical date's slice
(``_logical_date = ds``: the window's rows plus tombstones for deleted keys) replaced in one
commit (``replaceWhere``). A job that dies before the commit leaves the previous table version
untouched; a rerun of the same date rewrites the same slice (no duplicates). The watermark
registry advances only after the commit. A new table keeps file statistics only on
``--stats-columns`` (keys, filter and Z-ORDER columns: the factory's choice), not on every column.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.lib import watermarks
from spark_jobs.lib.bronze import with_bronze_metadata
from spark_jobs.lib.context import RunContext, job_parser
from spark_jobs.lib.delta_io import STATS_COLUMNS, replace_slice
from spark_jobs.lib.errors import EmptySourceError, InjectedFaultError, MissingStepResultError, ReconciliationError
from spark_jobs.lib.incremental import DELETED, tombstones
from spark_jobs.lib.results import StepResult, read_result
from spark_jobs.lib.session import get_spark
from spark_jobs.lib.steps import Metrics, run_step, start_job
from spark_jobs.lib.tables import bronze_table, watermark_table

FAULT_ENV = "LAKEHOUSE_INJECT_FAULT"  # "write_bronze:<table>": fail inside the write (tests, drills)


def parse(argv: list[str]) -> argparse.Namespace:
    p = job_parser("write_bronze")
    p.add_argument("--source-system", required=True)
    p.add_argument("--watermark-column", default=None)
    p.add_argument("--allow-empty", action="store_true")
    p.add_argument(
        "--stats-columns", default="", help="comma-separated columns a new table keeps file statistics on (all: empty)"
    )
    return p.parse_args(argv)


def _with_fault(df: DataFrame, ctx: RunContext) -> DataFrame:
    """When injected, rows after the first raise inside the write's tasks: files may be written, the
    commit never happens."""
    if os.environ.get(FAULT_ENV) != f"write_bronze:{ctx.table}":
        return df
    boom = F.raise_error(F.lit(f"{InjectedFaultError.__name__}: injected failure in write_bronze:{ctx.table}"))
    stamp = F.when(F.monotonically_increasing_id() >= 1, boom).otherwise(F.col("_processing_timestamp"))
    return df.withColumn("_processing_timestamp", stamp.cast("timestamp"))


def _bronze_frame(ctx: RunContext, args: argparse.Namespace, extract: StepResult, landing: DataFrame) -> DataFrame:
    spark = landing.sparkSession
    meta = {
        "source_system": args.source_system,
        "batch_id": ctx.run_id,
        "logical_date": ctx.logical_date,
        "load_timestamp": dt.datetime.fromtimestamp(extract.finished_at or extract.started_at, dt.UTC),
    }
    out = with_bronze_metadata(landing, **meta)
    if extract.metrics.get("deletes_path"):
        gone = tombstones(spark.read.parquet(str(extract.metrics["deletes_path"])), landing)
        out = out.unionByName(with_bronze_metadata(gone, **meta, record_status=DELETED))
    if extract.metrics.get("table_load_mode") == "incremental":
        out = out.withColumn("_load_mode", F.lit(str(extract.metrics["load_mode"])))
    return _with_fault(out, ctx)


def main(argv: list[str]) -> int:
    args = parse(argv)
    ctx, log = start_job(args, "write_bronze")

    def body() -> Metrics:
        extract = read_result(ctx, "extract")
        if extract is None or extract.status != "SUCCESS":
            state = "missing" if extract is None else extract.status
            raise MissingStepResultError(f"extract result for run {ctx.run_id} is {state}; run extract first")
        spark = get_spark(f"write_bronze-{ctx.table}")
        landing = spark.read.parquet(ctx.landing_path())
        rows = landing.count()
        if rows != extract.metrics["rows_read"]:
            raise ReconciliationError(
                f"landing has {rows} rows but extract recorded {extract.metrics['rows_read']}; rerun extract"
            )
        mode = str(extract.metrics.get("load_mode") or "full")
        if rows == 0 and mode == "full" and not args.allow_empty:
            raise EmptySourceError(f"landing for {ctx.table} is empty; refusing to overwrite bronze with 0 rows")
        target = bronze_table(ctx.tables, ctx.bronze_schema, ctx.table)
        out = _bronze_frame(ctx, args, extract, landing)
        create = {STATS_COLUMNS: args.stats_columns} if args.stats_columns else None
        if extract.metrics.get("table_load_mode") == "incremental":
            replace_slice(
                target, out, {"_logical_date": str(ctx.logical_date)}, merge_schema=True, create_options=create
            )
        else:
            target.save(out.write.mode("overwrite").option("overwriteSchema", "true"), create)
        window_end = extract.metrics.get("window_end")
        moved = watermarks.advance(
            spark,
            watermark_table(ctx.tables, ctx.bronze_schema),
            table=ctx.table,
            watermark_column=args.watermark_column,
            high_water_mark=dt.datetime.fromisoformat(str(window_end)) if window_end else dt.datetime.now(),  # noqa: DTZ005
            load_mode=mode,
            run_id=ctx.run_id,
            logical_date=ctx.logical_date,
            rows=rows,
        )
        return {
            "rows_written": rows,
            "rows_deleted": extract.metrics.get("rows_deleted"),
            "load_mode": mode,
            "watermark_advanced": int(moved),
            "bronze_version": target.latest_version(spark),
            "target": target.path,
        }

    return run_step(ctx, "write_bronze", body, log)
