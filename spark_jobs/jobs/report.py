"""report: print the per-table summary of one run from ``bz_audit_log`` (latest run by default)."""

from __future__ import annotations

import argparse
import sys

from pyspark.sql import Window
from pyspark.sql import functions as F

from spark_jobs.lib.session import get_spark
from spark_jobs.lib.tables import audit_table


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="report")
    p.add_argument("--lakehouse-root", required=True)
    p.add_argument("--bronze-schema", default="inventory_bronze")
    p.add_argument("--audit-table", default="bz_audit_log")
    p.add_argument("--dag-id", required=True)
    p.add_argument("--run-id", help="defaults to the most recently audited run of the DAG")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    spark = get_spark("report")
    table = audit_table(args.lakehouse_root, args.bronze_schema, args.audit_table)
    if not table.exists():
        sys.stderr.write(f"no audit log at {table.path}\n")
        return 1
    audit = table.read(spark).where(F.col("dag_id") == args.dag_id)
    run_id = args.run_id or audit.orderBy(F.col("load_timestamp").desc()).first()["job_run_id"]
    latest = Window.partitionBy("source_table").orderBy(F.col("load_timestamp").desc())
    rows = (
        audit.where(F.col("job_run_id") == run_id)
        .withColumn("rn", F.row_number().over(latest))
        .where("rn = 1")
        .orderBy("load_timestamp")
        .collect()
    )
    out = sys.stdout
    out.write(f"\nRun {run_id} ({args.dag_id})\n")
    out.write(f"{'table':<28}{'rows read':>12}{'rows written':>14}{'status':>9}{'seconds':>9}  error\n")
    for r in rows:
        secs = f"{r['processing_time']:.1f}" if r["processing_time"] is not None else "-"
        out.write(
            f"{r['source_table']:<28}{r['rows_read'] or 0:>12,}{r['rows_written'] or 0:>14,}"
            f"{r['status']:>9}{secs:>9}  {(r['error_details'] or '')[:80]}\n"
        )
    failed = sum(1 for r in rows if r["status"] != "SUCCESS")
    out.write(f"{len(rows)} tables, {len(rows) - failed} succeeded, {failed} failed\n")
    return 0 if failed == 0 and rows else 1
