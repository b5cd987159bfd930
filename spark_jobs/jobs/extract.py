"""extract: partitioned JDBC read of one source table -> landing Parquet for the logical date.

Full loads read the whole table; incremental loads the run's watermark window (see
``spark_jobs.lib.incremental``). The source schema is checked against the contract first, and
deleted keys are found by comparing source keys with bronze when due. Only this run's landing
partition (``landing/<table>/logical_date=<ds>``) is replaced.
"""

from __future__ import annotations

import argparse
import json

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from spark_jobs.lib import jdbc
from spark_jobs.lib.context import RunContext, job_parser, native_schedule
from spark_jobs.lib.drift import check_drift
from spark_jobs.lib.errors import EmptySourceError
from spark_jobs.lib.incremental import WatermarkWindow, deletes_due, effective_mode, live_keys
from spark_jobs.lib.secrets import JdbcCredentials, resolve_jdbc
from spark_jobs.lib.session import get_spark
from spark_jobs.lib.steps import Metrics, run_step, start_job
from spark_jobs.lib.tables import TableRef, bronze_table


def parse(argv: list[str]) -> argparse.Namespace:
    p = job_parser("extract")
    p.add_argument("--source", required=True, help="schema.table in the source database")
    p.add_argument("--columns", required=True, help='contract columns as JSON {"name": "spark type"}')
    p.add_argument("--jdbc-secret", required=True, help="secret reference, e.g. env:LAKEHOUSE_JDBC")
    p.add_argument("--primary-key", required=True, help="comma-separated key columns")
    p.add_argument("--load-mode", choices=("full", "incremental"), default="full")
    p.add_argument("--requested-mode", default="incremental", help="the run's params.mode")
    p.add_argument("--watermark-column", default="updated_at")
    p.add_argument("--interval-start", default="", help="the run's data_interval_start (ISO, with zone)")
    p.add_argument("--interval-end", default="", help="the run's data_interval_end (ISO, with zone)")
    p.add_argument("--source-timezone", default="UTC", help="zone of the source's naive timestamps")
    p.add_argument("--delete-detection", choices=("every_run", "weekly", "never"), default="every_run")
    p.add_argument("--partition-column")
    p.add_argument("--num-partitions", type=int, default=1)
    p.add_argument("--fetch-size", type=int, default=10_000)
    p.add_argument("--allow-empty", action="store_true")
    return p.parse_args(argv)


def deletes_path(ctx: RunContext) -> str:
    return ctx.landing_path() + "__deleted_keys"


def _interval(args: argparse.Namespace, ctx: RunContext) -> tuple[str, str]:
    """The run's data interval: Airflow's, or (native Databricks run) the schedule's for the date."""
    schedule = native_schedule(args)
    if schedule is not None and args.interval_start in ("", "None"):
        start, end = schedule.interval_for(ctx.logical_date)
        return start.isoformat(), end.isoformat()
    return args.interval_start, args.interval_end


def _mode(spark: SparkSession, target: TableRef, ctx: RunContext, args: argparse.Namespace) -> str:
    modes: set[str] = set()
    if args.load_mode == "incremental" and target.exists():
        rows = target.read(spark).where(f"_logical_date = DATE'{ctx.logical_date}'")
        # rows without a recorded mode predate incremental loading: they were a full overwrite
        mode_col = F.col("_load_mode") if "_load_mode" in rows.columns else F.lit(None).cast("string")
        loaded = rows.select(F.coalesce(mode_col, F.lit("full")).alias("m")).distinct().collect()
        modes = {r["m"] for r in loaded}
    return effective_mode(args.load_mode, args.requested_mode, modes, target.exists())


def _detect_deletes(
    spark: SparkSession, target: TableRef, ctx: RunContext, creds: JdbcCredentials, args: argparse.Namespace
) -> int:
    """Keys live in bronze (outside this date's slice) but gone from the source -> landing; count."""
    keys = args.primary_key.split(",")
    source_keys = jdbc.read_table(
        spark,
        creds,
        args.source,
        keys,
        jdbc.source_stats(spark, creds, args.source, args.partition_column),
        args.partition_column,
        args.num_partitions,
        args.fetch_size,
    )
    gone = live_keys(target.read(spark), keys, ctx.logical_date).join(source_keys, keys, "left_anti")
    gone.write.mode("overwrite").parquet(deletes_path(ctx))
    return spark.read.parquet(deletes_path(ctx)).count()


def main(argv: list[str]) -> int:
    args = parse(argv)
    ctx, log = start_job(args, "extract")

    def body() -> Metrics:
        spark = get_spark(f"extract-{ctx.table}")
        creds = resolve_jdbc(args.jdbc_secret)
        contract: dict[str, str] = json.loads(args.columns)
        drift = check_drift(args.source, contract, jdbc.source_columns(spark, creds, args.source))
        target = bronze_table(ctx.tables, ctx.bronze_schema, ctx.table)
        mode = _mode(spark, target, ctx, args)
        window = None
        if args.load_mode == "incremental" or args.interval_end not in ("", "None"):
            window = WatermarkWindow.from_interval(*_interval(args, ctx), args.source_timezone)
        where = window.predicate(args.watermark_column) if window and mode == "incremental" else None
        stats = jdbc.source_stats(spark, creds, args.source, args.partition_column, where)
        if stats.row_count == 0 and mode == "full" and not args.allow_empty:
            raise EmptySourceError(
                f"source table {args.source} is empty; refusing to load 0 rows (set allow_empty: true to permit)"
            )
        columns = [*contract, *(c for c, _ in drift.added)]
        df = jdbc.read_table(
            spark,
            creds,
            args.source,
            columns,
            stats,
            args.partition_column,
            args.num_partitions,
            args.fetch_size,
            where,
        )
        df.write.mode("overwrite").parquet(ctx.landing_path())
        rows = spark.read.parquet(ctx.landing_path()).count()
        detect = (
            args.load_mode == "incremental"
            and target.exists()
            and deletes_due(args.delete_detection, mode, ctx.logical_date)
        )
        deleted = _detect_deletes(spark, target, ctx, creds, args) if detect else None
        return {
            "source_row_count": stats.row_count,
            "rows_read": rows,
            "landing_path": ctx.landing_path(),
            "load_mode": mode,
            "table_load_mode": args.load_mode,
            "window_start": window.start.isoformat() if window else None,
            "window_end": window.end.isoformat() if window else None,
            "rows_deleted": deleted,
            "deletes_path": deletes_path(ctx) if detect else None,
            "schema_changes": drift.describe(),
        }

    return run_step(ctx, "extract", body, log)
