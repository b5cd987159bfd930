"""Step results: what each job recorded for (run, table, step), and the typed outcome it hands on.

A step writes ``RUNNING`` first, then ``SUCCESS`` with its outcome or ``FAILED`` with its error, as
a small JSON document at :func:`lakehouse_contract.layout.step_result_path`. The next job of the
table (write_bronze after extract, the audit after both), the monitor and the report read it.
``metrics`` stays a plain mapping on disk (documents written by earlier versions read the same);
each job's outcome type reads it back typed.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from typing import Literal, TypeVar

from lakehouse_contract.serial import from_data, to_data

Status = Literal["RUNNING", "SUCCESS", "FAILED"]
Metric = float | int | str | None
OutcomeT = TypeVar("OutcomeT", bound="Outcome")


@dataclass
class StepResult:
    step: str
    status: str  # RUNNING | SUCCESS | FAILED
    run_id: str
    try_number: int
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    metrics: dict[str, Metric] = field(default_factory=dict)
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else round(self.finished_at - self.started_at, 3)

    def to_json(self) -> str:
        return json.dumps(asdict(self), default=str)

    @classmethod
    def from_json(cls, text: str) -> StepResult:
        return cls(**json.loads(text))


class Outcome:
    """Base of the typed outcomes: ``metrics()`` for the step result, ``of(result)`` to read one."""

    def metrics(self) -> dict[str, Metric]:
        return dict(to_data(self))

    @classmethod
    def of(cls: type[OutcomeT], result: StepResult) -> OutcomeT:
        return from_data(cls, result.metrics, f"{result.step} result")


@dataclass(frozen=True)
class ExtractOutcome(Outcome):
    source_row_count: int
    rows_read: int
    landing_path: str
    load_mode: str  # the effective mode of this run: full | incremental
    table_load_mode: str  # the table's configured mode
    window_start: str | None
    window_end: str | None
    rows_deleted: int | None
    deletes_path: str | None
    schema_changes: str | None
    resumed_from: str | None = None  # incremental: the last committed mark, when a gap made it the start
    # file tables: files read into this slice, skipped as bad (policy skip), rewritten-but-ignored
    files_loaded: int | None = None
    files_skipped: int | None = None
    files_modified_ignored: int | None = None
    # file tables: JSON list of [logical date, path] of older rows of these files to replace
    files_replaced: str | None = None
    # CDC tables: the slot's confirmed position when read, and the end of the last transaction landed
    # (what write_bronze confirms after its commit)
    cdc_from_lsn: str | None = None
    cdc_to_lsn: str | None = None
    # full JDBC tables: the source's fingerprint (storage/fingerprint.py); ``unchanged_since``: the
    # batch bronze already holds when that fingerprint is the one its last load recorded (nothing read)
    source_fingerprint: str | None = None
    unchanged_since: str | None = None


@dataclass(frozen=True)
class WriteOutcome(Outcome):
    rows_written: int
    rows_deleted: int | None
    load_mode: str
    watermark_advanced: int
    bronze_version: int
    target: str


@dataclass(frozen=True)
class LayerOutcome(Outcome):
    """A silver or gold step (gold leaves the silver-only counts empty)."""

    rows_read: int | None
    rows_written: int
    table_rows: int
    target: str
    rows_deduplicated: int | None = None
    rows_quarantined: int | None = None
    rows_dropped: int | None = None
    dq_score: float | None = None
    load_mode: str | None = None
    rows_inserted: int | None = None
    rows_updated: int | None = None
    rows_deleted: int | None = None
    gold_version: int | None = None
    unchanged_since: str | None = None  # silver: the run whose build still stands (inputs unchanged)


@dataclass(frozen=True)
class MaintainOutcome(Outcome):
    tables: int
    files_before: int
    files_after: int


@dataclass(frozen=True)
class ValidateOutcome(Outcome):
    source_row_count: int
    contract_columns: int
    files_listed: int | None = None  # file sources: matching files at the location
