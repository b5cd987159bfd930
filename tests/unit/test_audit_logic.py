"""Audit decisions (pure): which status and error a table's load gets."""

from __future__ import annotations

import datetime as dt

from spark_jobs.storage.results import StepResult
from spark_jobs.transforms.audit import AuditInputs, build_record, parse_states

OK = "validate_connection=success,extract=success,write_bronze=success"


def _inputs(states: str = OK, bronze_rows: int | None = 10, **kw) -> AuditInputs:
    extract = StepResult("extract", "SUCCESS", "r1", 1, 0.0, 2.0, {"source_row_count": 10, "rows_read": 10})
    write = StepResult("write_bronze", "SUCCESS", "r1", 2, 3.0, 4.5, {"rows_written": 10})
    base = dict(
        source_table="tests.products", target_table="inventory_bronze.bz_products", dag_id="d", run_id="r1",
        logical_date=dt.date(2026, 11, 23), processed_by="d.products.audit@h", upstream_states=parse_states(states),
        upstream_error=None, extract=extract, write=write, bronze_rows=bronze_rows,
    )  # fmt: skip
    base.update(kw)
    return AuditInputs(**base)  # type: ignore[arg-type]


def test_success_records_counts_try_and_time() -> None:
    rec = build_record(_inputs())
    assert rec["status"] == "SUCCESS" and rec["error_details"] is None
    assert (rec["row_count"], rec["source_row_count"], rec["rows_read"], rec["rows_written"]) == (10, 10, 10, 10)
    assert rec["try_number"] == 2 and rec["processing_time"] == 3.5


def test_count_mismatch_fails() -> None:
    rec = build_record(_inputs(bronze_rows=9))
    assert rec["status"] == "FAILED"
    assert rec["error_details"] == "row count mismatch: source has 10 rows, bronze has 9 for this batch"


def test_validate_failure_reports_its_message() -> None:
    states = "validate_connection=failed,extract=upstream_failed,write_bronze=upstream_failed"
    rec = build_record(_inputs(states, upstream_error="check 'table exists' failed: tests.x not found"))
    assert rec["status"] == "FAILED"
    assert rec["error_details"] == "validate_connection failed: check 'table exists' failed: tests.x not found"


def test_step_error_wins_over_stale_success() -> None:
    failed = StepResult("write_bronze", "FAILED", "r1", 1, 0.0, 1.0, {}, "JobError: disk full")
    rec = build_record(_inputs("validate_connection=success,extract=success,write_bronze=failed", write=failed))
    assert rec["error_details"] == "write_bronze failed: JobError: disk full"
    assert rec["rows_written"] is None


def test_killed_step_without_result_is_failed() -> None:
    running = StepResult("write_bronze", "RUNNING", "r1", 1)
    rec = build_record(_inputs("validate_connection=success,extract=success,write_bronze=failed", write=running))
    assert rec["status"] == "FAILED" and rec["error_details"] == "write_bronze ended failed"
    rec = build_record(_inputs(states="", write=running))
    assert rec["error_details"] == "write_bronze did not complete (RUNNING)"


def test_an_unchanged_source_is_recorded_as_such_and_still_reconciled() -> None:
    metrics = {"source_row_count": 10, "rows_read": 0, "load_mode": "full", "unchanged_since": "r0"}
    extract = StepResult("extract", "SUCCESS", "r1", 1, 0.0, 2.0, metrics)
    write = StepResult("write_bronze", "SUCCESS", "r1", 1, 3.0, 4.0, {"rows_written": 0})
    rec = build_record(_inputs(extract=extract, write=write))
    assert (rec["status"], rec["load_mode"], rec["row_count"], rec["rows_read"]) == ("SUCCESS", "unchanged", 10, 0)
    rec = build_record(_inputs(extract=extract, write=write, bronze_rows=9))  # the batch bronze holds is short
    assert rec["status"] == "FAILED" and "source has 10 rows, bronze has 9" in str(rec["error_details"])
