"""write_bronze: landing Parquet -> Delta ``bz_<table>`` with metadata columns.

Full refresh is one Delta overwrite commit: a job that dies before the commit leaves the previous
table version untouched; a rerun of the same batch rewrites the same rows (no duplicates).
"""

from __future__ import annotations

import argparse
import datetime as dt

from spark_jobs.lib.bronze import with_bronze_metadata
from spark_jobs.lib.context import job_parser
from spark_jobs.lib.errors import EmptySourceError, MissingStepResultError, ReconciliationError
from spark_jobs.lib.results import read_result
from spark_jobs.lib.session import get_spark
from spark_jobs.lib.steps import Metrics, run_step, start_job
from spark_jobs.lib.tables import bronze_table


def parse(argv: list[str]) -> argparse.Namespace:
    p = job_parser("write_bronze")
    p.add_argument("--source-system", required=True)
    p.add_argument("--allow-empty", action="store_true")
    return p.parse_args(argv)


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
        if rows == 0 and not args.allow_empty:
            raise EmptySourceError(f"landing for {ctx.table} is empty; refusing to overwrite bronze with 0 rows")
        target = bronze_table(ctx.lakehouse_root, ctx.bronze_schema, ctx.table)
        out = with_bronze_metadata(
            landing,
            source_system=args.source_system,
            batch_id=ctx.run_id,
            logical_date=ctx.logical_date,
            load_timestamp=dt.datetime.fromtimestamp(extract.finished_at or extract.started_at, dt.UTC),
        )
        target.save(out.write.mode("overwrite").option("overwriteSchema", "true"))
        return {"rows_written": rows, "bronze_version": target.latest_version(spark), "target": target.path}

    return run_step(ctx, "write_bronze", body, log)
