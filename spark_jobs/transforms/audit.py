"""Audit rows (``lakehouse_contract.audit.AuditRow``): one per table per audit attempt (pure decisions)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from lakehouse_contract.audit import AuditRow
from lakehouse_contract.results import StepResult


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


def _int(value: object) -> int | None:
    return None if value is None else int(value)  # type: ignore[call-overload]


def build_record(inp: AuditInputs, now: dt.datetime | None = None) -> AuditRow:
    """The bronze audit row for ``inp``; SUCCESS only when every step succeeded and counts match."""
    reason = _failure_reason(inp)
    seconds = [r.seconds for r in (inp.extract, inp.write) if r is not None and r.seconds is not None]
    latest = inp.write or inp.extract
    extracted = inp.extract.metrics if inp.extract else {}
    written = inp.write.metrics if inp.write and inp.write.status == "SUCCESS" else {}
    return AuditRow(
        source_table=inp.source_table,
        target_table=inp.target_table,
        load_timestamp=now or dt.datetime.now(dt.UTC),
        processed_by=inp.processed_by,
        processing_time=round(sum(seconds), 3) if seconds else None,
        status="FAILED" if reason else "SUCCESS",
        row_count=inp.bronze_rows,
        source_row_count=_int(extracted.get("source_row_count")),
        error_details=reason,
        job_run_id=inp.run_id,
        try_number=latest.try_number if latest else None,
        dag_id=inp.dag_id,
        logical_date=inp.logical_date,
        rows_read=_int(extracted.get("rows_read")),
        rows_written=_int(written.get("rows_written")),
        extract_seconds=inp.extract.seconds if inp.extract else None,
        write_seconds=inp.write.seconds if inp.write else None,
        layer="bronze",
        load_mode="unchanged" if extracted.get("unchanged_since") else extracted.get("load_mode"),  # type: ignore[arg-type]
        rows_deleted=_int(extracted.get("rows_deleted")),
        schema_changes=extracted.get("schema_changes"),  # type: ignore[arg-type]
    )


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
) -> AuditRow:
    """Audit row for a silver or gold step, from its step result (metrics or error)."""
    m = result.metrics if result is not None else {}
    ok = result is not None and result.status == "SUCCESS"
    error = None if ok else (result.error if result is not None else "step left no result")
    score = m.get("dq_score")
    return AuditRow(
        source_table=source_table,
        target_table=target_table,
        load_timestamp=now or dt.datetime.now(dt.UTC),
        processed_by=processed_by,
        processing_time=result.seconds if result is not None else None,
        status="SUCCESS" if ok else "FAILED",
        row_count=_int(m.get("table_rows")),
        source_row_count=_int(m.get("rows_read")),
        error_details=error,
        job_run_id=run_id,
        try_number=result.try_number if result is not None else None,
        dag_id=dag_id,
        logical_date=logical_date,
        rows_read=_int(m.get("rows_read")),
        rows_written=_int(m.get("rows_written")),
        write_seconds=result.seconds if result is not None else None,
        layer=layer,
        dq_score=None if score is None else float(score),
        rows_quarantined=_int(m.get("rows_quarantined")),
        rows_dropped=_int(m.get("rows_dropped")),
        load_mode=m.get("load_mode"),  # type: ignore[arg-type]
        rows_deleted=_int(m.get("rows_deleted")),
        rows_deduplicated=_int(m.get("rows_deduplicated")),
    )


def parse_states(text: str | None) -> dict[str, str]:
    """``validate_connection=success,extract=failed`` -> ordered dict."""
    states: dict[str, str] = {}
    for item in filter(None, (text or "").split(",")):
        task, _, state = item.partition("=")
        states[task.strip()] = state.strip().lower()  # Databricks result states may be upper case
    return states
