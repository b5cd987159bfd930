"""Audit rows for ``bz_audit_log``: one per table per audit attempt (pure decision + schema)."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass

from pyspark.sql import SparkSession
from pyspark.sql.types import (
    DateType,
    DoubleType,
    IntegerType,
    LongType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from spark_jobs.lib.delta_io import retry_on_conflict
from spark_jobs.lib.results import StepResult
from spark_jobs.lib.tables import TableRef

AUDIT_SCHEMA = StructType(
    [
        StructField("record_id", StringType(), False),
        StructField("source_table", StringType(), False),
        StructField("target_table", StringType(), False),
        StructField("load_timestamp", TimestampType(), False),
        StructField("processed_by", StringType(), False),
        StructField("processing_time", DoubleType(), True),
        StructField("status", StringType(), False),
        StructField("row_count", LongType(), True),
        StructField("source_row_count", LongType(), True),
        StructField("error_details", StringType(), True),
        StructField("job_run_id", StringType(), False),
        StructField("try_number", IntegerType(), True),
        StructField("dag_id", StringType(), False),
        StructField("logical_date", DateType(), False),
        StructField("rows_read", LongType(), True),
        StructField("rows_written", LongType(), True),
        StructField("extract_seconds", DoubleType(), True),
        StructField("write_seconds", DoubleType(), True),
        StructField("layer", StringType(), True),
        StructField("dq_score", DoubleType(), True),
        StructField("rows_quarantined", LongType(), True),
        StructField("rows_dropped", LongType(), True),
        StructField("load_mode", StringType(), True),
        StructField("rows_deleted", LongType(), True),
        StructField("schema_changes", StringType(), True),
    ]
)


@dataclass(frozen=True)
class AuditInputs:
    """Everything the audit decides from; ``upstream_states`` come from Airflow (task -> state)."""

    source_table: str
    target_table: str
    dag_id: str
    run_id: str
    logical_date: dt.date
    processed_by: str
    upstream_states: dict[str, str]
    upstream_error: str | None
    extract: StepResult | None
    write: StepResult | None
    bronze_rows: int | None


def _failure_reason(inp: AuditInputs) -> str | None:
    """Why the load is not a success, naming the first step that failed; None when it succeeded.

    Airflow's view of the upstream tasks decides which step failed (results on disk may be left
    over from an earlier attempt); the step's own result supplies the error text.
    """
    results = {"extract": inp.extract, "write_bronze": inp.write}
    for task, state in inp.upstream_states.items():
        if state == "success":
            continue
        result = results.get(task)
        if result is not None and result.status == "FAILED":
            return f"{task} failed: {result.error}"
        if task == "validate_connection" and inp.upstream_error:
            return f"validate_connection failed: {inp.upstream_error}"
        return f"{task} ended {state}"
    if not inp.upstream_states:
        for task, result in results.items():
            if result is not None and result.status == "FAILED":
                return f"{task} failed: {result.error}"
    if inp.write is None or inp.write.status != "SUCCESS":
        state = "no result" if inp.write is None else inp.write.status
        return f"write_bronze did not complete ({state})"
    source = inp.extract.metrics.get("source_row_count") if inp.extract else None
    if inp.bronze_rows != source:
        return f"row count mismatch: source has {source} rows, bronze has {inp.bronze_rows} for this batch"
    return None


def build_record(inp: AuditInputs, now: dt.datetime | None = None) -> dict[str, object]:
    """The audit row for ``inp``; status SUCCESS only when every step succeeded and counts match."""
    reason = _failure_reason(inp)
    seconds = [r.seconds for r in (inp.extract, inp.write) if r is not None and r.seconds is not None]
    latest = inp.write or inp.extract

    def metric(r: StepResult | None, key: str) -> int | None:
        value = r.metrics.get(key) if r is not None else None
        return None if value is None else int(value)

    return {
        "record_id": str(uuid.uuid4()),
        "source_table": inp.source_table,
        "target_table": inp.target_table,
        "load_timestamp": now or dt.datetime.now(dt.UTC),
        "processed_by": inp.processed_by,
        "processing_time": round(sum(seconds), 3) if seconds else None,
        "status": "FAILED" if reason else "SUCCESS",
        "row_count": inp.bronze_rows,
        "source_row_count": metric(inp.extract, "source_row_count"),
        "error_details": reason,
        "job_run_id": inp.run_id,
        "try_number": latest.try_number if latest else None,
        "dag_id": inp.dag_id,
        "logical_date": inp.logical_date,
        "rows_read": metric(inp.extract, "rows_read"),
        "rows_written": metric(inp.write, "rows_written") if inp.write and inp.write.status == "SUCCESS" else None,
        "extract_seconds": inp.extract.seconds if inp.extract else None,
        "write_seconds": inp.write.seconds if inp.write else None,
        "layer": "bronze",
        "dq_score": None,
        "rows_quarantined": None,
        "rows_dropped": None,
        "load_mode": inp.extract.metrics.get("load_mode") if inp.extract else None,
        "rows_deleted": metric(inp.extract, "rows_deleted"),
        "schema_changes": inp.extract.metrics.get("schema_changes") if inp.extract else None,
    }


def layer_record(
    *,
    layer: str,
    source_table: str,
    target_table: str,
    processed_by: str,
    result: StepResult | None,
    dag_id: str,
    run_id: str,
    logical_date: dt.date,
    now: dt.datetime | None = None,
) -> dict[str, object]:
    """Audit row for a silver or gold step, from its step result (metrics or error)."""
    m = result.metrics if result is not None else {}

    def num(key: str) -> int | None:
        value = m.get(key)
        return None if value is None else int(value)

    ok = result is not None and result.status == "SUCCESS"
    error = None if ok else (result.error if result is not None else "step left no result")
    score = m.get("dq_score")
    return {
        "record_id": str(uuid.uuid4()),
        "source_table": source_table,
        "target_table": target_table,
        "load_timestamp": now or dt.datetime.now(dt.UTC),
        "processed_by": processed_by,
        "processing_time": result.seconds if result is not None else None,
        "status": "SUCCESS" if ok else "FAILED",
        "row_count": num("table_rows"),
        "source_row_count": num("rows_read"),
        "error_details": error,
        "job_run_id": run_id,
        "try_number": result.try_number if result is not None else None,
        "dag_id": dag_id,
        "logical_date": logical_date,
        "rows_read": num("rows_read"),
        "rows_written": num("rows_written"),
        "extract_seconds": None,
        "write_seconds": result.seconds if result is not None else None,
        "layer": layer,
        "dq_score": None if score is None else float(score),
        "rows_quarantined": num("rows_quarantined"),
        "rows_dropped": num("rows_dropped"),
        "load_mode": m.get("load_mode"),
        "rows_deleted": num("rows_deleted"),
        "schema_changes": None,
    }


def parse_states(text: str | None) -> dict[str, str]:
    """``validate_connection=success,extract=failed`` -> ordered dict."""
    states: dict[str, str] = {}
    for item in filter(None, (text or "").split(",")):
        task, _, state = item.partition("=")
        states[task.strip()] = state.strip().lower()  # Databricks result states may be upper case
    return states


def append_audit(spark: SparkSession, table: TableRef, record: dict[str, object]) -> None:
    """Append one audit row (the log predating new columns gains them: mergeSchema)."""
    row = spark.createDataFrame([tuple(record[f.name] for f in AUDIT_SCHEMA.fields)], AUDIT_SCHEMA)
    # parallel audit tasks append to one log (and may create it together): retried on a conflict
    retry_on_conflict(lambda: table.save(row.write.mode("append").option("mergeSchema", "true")))
