"""report: print the per-table summary of one run from the audit log (latest run by default)."""

from __future__ import annotations

import argparse
import sys

from pyspark.sql import Window
from pyspark.sql import functions as F

from lakehouse_contract.naming import AUDIT_LOG, Schemas
from spark_jobs.runtime.session import get_spark
from spark_jobs.storage.tables import TableLocation, audit_table


def parse(argv: list[str]) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="report")
    p.add_argument("--lakehouse-root", required=True)
    p.add_argument("--bronze-schema", default=Schemas().bronze)
    p.add_argument("--catalog", default="", help="tables by name in this catalog (default: path-based)")
    p.add_argument("--audit-table", default=AUDIT_LOG)
    p.add_argument("--dag-id", required=True)
    p.add_argument("--run-id", help="defaults to the most recently audited run of the DAG")
    return p.parse_args(argv)


def main(argv: list[str]) -> int:
    args = parse(argv)
    spark = get_spark("report")
    table = audit_table(TableLocation(args.lakehouse_root, args.catalog or None), args.bronze_schema, args.audit_table)
    if not table.exists():
        sys.stderr.write(f"no audit log at {table.path}\n")
        return 1
    audit = table.read(spark).where(F.col("dag_id") == args.dag_id)
    if "layer" not in audit.columns:  # an audit log written before silver/gold existed
        audit = audit.withColumn("layer", F.lit("bronze"))
    for col in ("dq_score", "rows_quarantined", "load_mode", "rows_deleted"):
        if col not in audit.columns:
            audit = audit.withColumn(col, F.lit(None))
    newest = audit.orderBy(F.col("load_timestamp").desc()).first()
    if newest is None:
        sys.stderr.write(f"no audit rows for {args.dag_id}\n")
        return 1
    run_id = args.run_id or newest["job_run_id"]
    latest = Window.partitionBy("layer", "target_table").orderBy(F.col("load_timestamp").desc())
    rank = F.when(F.col("layer") == "bronze", 0).when(F.col("layer") == "silver", 1).otherwise(2)
    rows = (
        audit.where(F.col("job_run_id") == run_id)
        .withColumn("rn", F.row_number().over(latest))
        .where("rn = 1")
        .orderBy(rank, "load_timestamp")
        .collect()
    )
    out = sys.stdout
    out.write(f"\nRun {run_id} ({args.dag_id})\n")
    out.write(f"{'layer':<7}{'table':<38}{'mode':<6}{'rows read':>11}{'written':>10}{'deleted':>8}{'quarant.':>9}"
              f"{'DQ':>7}{'status':>9}{'secs':>7}  error\n")  # fmt: skip
    for r in rows:
        secs = f"{r['processing_time']:.1f}" if r["processing_time"] is not None else "-"
        dq = f"{r['dq_score']:.3f}" if r["dq_score"] is not None else ""
        quarantined = f"{r['rows_quarantined']:,}" if r["rows_quarantined"] is not None else ""
        deleted = f"{r['rows_deleted']:,}" if r["rows_deleted"] is not None else ""
        mode = {"incremental": "incr", "full": "full"}.get(r["load_mode"] or "", "")
        out.write(
            f"{r['layer']:<7}{r['target_table']:<38}{mode:<6}{r['rows_read'] or 0:>11,}{r['rows_written'] or 0:>10,}"
            f"{deleted:>8}{quarantined:>9}{dq:>7}{r['status']:>9}{secs:>7}  {(r['error_details'] or '')[:70]}\n"
        )
    failed = sum(1 for r in rows if r["status"] != "SUCCESS")
    out.write(f"{len(rows)} tables, {len(rows) - failed} succeeded, {failed} failed\n")
    return 0 if failed == 0 and rows else 1
