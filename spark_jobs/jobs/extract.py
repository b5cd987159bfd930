"""extract: partitioned JDBC read of one source table -> landing Parquet for the logical date.

Only this run's landing partition (``landing/<table>/logical_date=<ds>``) is replaced.
"""

from __future__ import annotations

import argparse

from spark_jobs.lib import jdbc
from spark_jobs.lib.context import job_parser
from spark_jobs.lib.errors import EmptySourceError
from spark_jobs.lib.secrets import resolve_jdbc
from spark_jobs.lib.session import get_spark
from spark_jobs.lib.steps import Metrics, run_step, start_job


def parse(argv: list[str]) -> argparse.Namespace:
    p = job_parser("extract")
    p.add_argument("--source", required=True, help="schema.table in the source database")
    p.add_argument("--columns", required=True, help="comma-separated contract columns")
    p.add_argument("--jdbc-secret", required=True, help="secret reference, e.g. env:LAKEHOUSE_JDBC")
    p.add_argument("--partition-column")
    p.add_argument("--num-partitions", type=int, default=1)
    p.add_argument("--fetch-size", type=int, default=10_000)
    p.add_argument("--allow-empty", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    ctx, log = start_job(args, "extract")

    def body() -> Metrics:
        spark = get_spark(f"extract-{ctx.table}")
        creds = resolve_jdbc(args.jdbc_secret)
        stats = jdbc.source_stats(spark, creds, args.source, args.partition_column)
        if stats.row_count == 0 and not args.allow_empty:
            raise EmptySourceError(
                f"source table {args.source} is empty; refusing to load 0 rows (set allow_empty: true to permit)"
            )
        df = jdbc.read_table(
            spark,
            creds,
            args.source,
            args.columns.split(","),
            stats,
            args.partition_column,
            args.num_partitions,
            args.fetch_size,
        )
        df.write.mode("overwrite").parquet(ctx.landing_path())
        rows = spark.read.parquet(ctx.landing_path()).count()
        return {"source_row_count": stats.row_count, "rows_read": rows, "landing_path": ctx.landing_path()}

    return run_step(ctx, "extract", body, log)
