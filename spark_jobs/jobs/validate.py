"""validate: the source checks of Airflow's ``validate_connection``, as a Spark job.

Used where no Airflow worker runs the task (the pipeline exported as a native Databricks job):
the connection answers, the table exists, the contract's columns exist, the table has rows
(unless empty loads are allowed). The outcome is a step result, so the table's audit records
the failed check's message (never a credential).
"""

from __future__ import annotations

import argparse
import json

from spark_jobs.lib import jdbc
from spark_jobs.lib.context import job_parser
from spark_jobs.lib.errors import JobError, describe
from spark_jobs.lib.secrets import resolve_jdbc
from spark_jobs.lib.session import get_spark
from spark_jobs.lib.steps import Metrics, run_step, start_job


class SourceCheckError(JobError):
    """A check of the source failed (the message names the check)."""


def parse(argv: list[str]) -> argparse.Namespace:
    p = job_parser("validate")
    p.add_argument("--source", required=True, help="schema.table in the source database")
    p.add_argument("--columns", required=True, help="contract columns as JSON {name: spark type}")
    p.add_argument("--jdbc-secret", required=True, help="secret reference, e.g. dbsecrets:SCOPE")
    p.add_argument("--allow-empty", action="store_true")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    ctx, log = start_job(args, "validate")

    def body() -> Metrics:
        spark = get_spark(f"validate-{ctx.table}")
        creds = resolve_jdbc(args.jdbc_secret)
        try:
            present = jdbc.source_columns(spark, creds, args.source)
        except Exception as exc:  # the driver's message names host/user, never the password
            raise SourceCheckError(f"check 'connect' failed for {args.source}: {describe(exc, 500)}") from None
        if not present:
            raise SourceCheckError(f"check 'table exists' failed: {args.source} not found")
        missing = [c for c in json.loads(args.columns) if c not in present]
        if missing:
            raise SourceCheckError(f"check 'contract columns' failed: {args.source} lacks columns {missing}")
        rows = jdbc.source_stats(spark, creds, args.source, None).row_count
        if rows == 0 and not args.allow_empty:
            raise SourceCheckError(
                f"check 'not empty' failed: {args.source} has no rows (set allow_empty: true to permit empty loads)"
            )
        log.info("source %s passed all checks (%d contract columns)", args.source, len(present))
        return {"source_row_count": rows, "contract_columns": len(json.loads(args.columns))}

    return run_step(ctx, "validate_connection", body, log)
