"""audit: append one row to ``bz_audit_log`` for the table's load in this run, then reconcile.

Runs whatever happened upstream. Exits non-zero when the load failed or the source and bronze
row counts disagree, so the Airflow run ends failed and alerts fire. A full table whose source
had not changed (extract's ``unchanged_since``) is reconciled against the batch bronze still
holds. A CDC table's count is the changes extract read (deletes included) against bronze's rows
in that log range.
"""

from __future__ import annotations

import logging
import socket

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from lakehouse_contract.naming import CDC_LSN, CDC_OP
from lakehouse_contract.results import ExtractOutcome, StepResult
from lakehouse_contract.specs import AuditSpec
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import start_job
from spark_jobs.storage import leases
from spark_jobs.storage.audit_log import append_audit
from spark_jobs.storage.pgoutput import lsn_to_int
from spark_jobs.storage.results import read_result
from spark_jobs.storage.tables import audit_table, bronze_table
from spark_jobs.transforms.audit import AuditInputs, build_record, parse_states
from spark_jobs.transforms.incremental import DELETED


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, AuditSpec)
    try:
        return _audit(ctx, spec, log)
    finally:  # the end of the chain, whatever happened: a lease a failed chain held is given back
        leases.release(ctx, log)


def _cdc_batch(bronze: DataFrame, extract: StepResult | None) -> DataFrame | None:
    """A CDC table's batch: the change rows of the log range extract read, whichever run stored
    them (a retry stores none twice), or the snapshot; None for other tables."""
    if extract is None or extract.status != "SUCCESS" or not extract.metrics.get("cdc_to_lsn"):
        return None
    done = ExtractOutcome.of(extract)
    if done.load_mode == "full":
        return bronze.where(F.col(CDC_OP) == "snapshot")
    start, end = lsn_to_int(str(done.cdc_from_lsn)), lsn_to_int(str(done.cdc_to_lsn))
    return bronze.where((F.col(CDC_LSN) > F.lit(start)) & (F.col(CDC_LSN) <= F.lit(end)))


def _unchanged_since(extract: StepResult | None) -> str | None:
    if extract is None or extract.status != "SUCCESS":
        return None
    return ExtractOutcome.of(extract).unchanged_since


def _audit(ctx: RunContext, spec: AuditSpec, log: logging.Logger) -> int:
    spark = get_spark(f"audit-{ctx.table}")
    target = bronze_table(ctx.tables, ctx.bronze_schema, ctx.table, ctx.schemas.bronze_prefix)
    bronze_rows = None
    extract = read_result(ctx, "extract")
    if target.exists():
        batch = _cdc_batch(target.read(spark), extract)
        if batch is None:  # this run's batch, or the one bronze still holds for an unchanged source
            batch = target.read(spark).where(F.col("_batch_id") == (_unchanged_since(extract) or ctx.run_id))
            if "_record_status" in batch.columns:
                batch = batch.where(F.col("_record_status") != DELETED)  # tombstones are not source rows
        bronze_rows = batch.count()
    error = ctx.upstream_error
    if not error:  # a native Databricks run: the validate job left its outcome on disk
        validated = read_result(ctx, "validate_connection")
        error = validated.error or "" if validated is not None and validated.status == "FAILED" else ""
    record = build_record(
        AuditInputs(
            source_table=spec.source,
            target_table=f"{ctx.bronze_schema}.{target.name}",
            dag_id=ctx.dag_id,
            run_id=ctx.run_id,
            logical_date=ctx.logical_date,
            processed_by=f"{ctx.dag_id}.{ctx.task_id}@{socket.gethostname()}",
            upstream_states=parse_states(ctx.upstream_states),
            upstream_error=error or None,
            extract=extract,
            write=read_result(ctx, "write_bronze"),
            bronze_rows=bronze_rows,
        )
    )
    append_audit(spark, audit_table(ctx.tables, ctx.bronze_schema, spec.audit_table), record)
    fields = {k: record[k] for k in ("status", "row_count", "source_row_count", "error_details")}
    if record["status"] != "SUCCESS":
        log.error("audit recorded FAILED: %s", record["error_details"], extra={"fields": fields})
        return 1
    log.info("audit recorded SUCCESS", extra={"fields": fields})
    return 0
