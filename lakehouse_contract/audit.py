"""The audit log row: one per table per layer per audit attempt. Spelled once; the Spark schema is
derived from it (``spark_jobs.storage.audit``), the report and the monitor read its columns."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field, fields
from typing import Any


def _col(sql_type: str, nullable: bool = True, default: Any = None) -> Any:
    meta = {"type": sql_type, "nullable": nullable}
    if nullable:
        return field(default=default, metadata=meta)
    return field(metadata=meta)


@dataclass(frozen=True, kw_only=True)
class AuditRow:
    """Column order is the audit table's (existing logs gain new columns at the end)."""

    record_id: str = field(default_factory=lambda: str(uuid.uuid4()), metadata={"type": "string", "nullable": False})
    source_table: str = _col("string", False)
    target_table: str = _col("string", False)
    load_timestamp: dt.datetime = field(
        default_factory=lambda: dt.datetime.now(dt.UTC), metadata={"type": "timestamp", "nullable": False}
    )
    processed_by: str = _col("string", False)
    processing_time: float | None = _col("double")
    status: str = _col("string", False)  # SUCCESS | FAILED
    row_count: int | None = _col("bigint")
    source_row_count: int | None = _col("bigint")
    error_details: str | None = _col("string")
    job_run_id: str = _col("string", False)
    try_number: int | None = _col("int")
    dag_id: str = _col("string", False)
    logical_date: dt.date = _col("date", False)
    rows_read: int | None = _col("bigint")
    rows_written: int | None = _col("bigint")
    extract_seconds: float | None = _col("double")
    write_seconds: float | None = _col("double")
    layer: str | None = _col("string")
    dq_score: float | None = _col("double")
    rows_quarantined: int | None = _col("bigint")
    rows_dropped: int | None = _col("bigint")
    load_mode: str | None = _col("string")
    rows_deleted: int | None = _col("bigint")
    schema_changes: str | None = _col("string")
    rows_deduplicated: int | None = _col("bigint")  # silver: rows dropped as older duplicates of a key

    def values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, f.name) for f in fields(self))

    def __getitem__(self, column: str) -> Any:
        return getattr(self, column)


# (name, Spark SQL type, nullable) in table order
AUDIT_COLUMNS: tuple[tuple[str, str, bool], ...] = tuple(
    (f.name, f.metadata["type"], f.metadata["nullable"]) for f in fields(AuditRow)
)
