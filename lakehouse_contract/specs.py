"""One typed spec per job: everything the pipeline config decides about a task, as one JSON document.

The Airflow side builds specs from the pipeline config (``lakehouse_airflow.describe``); the Spark
side reads them (``spark_jobs.runtime.context``). The run context only Airflow knows at run time
(run id, logical date, data interval, try number, params) travels beside the spec as flags
(:mod:`lakehouse_contract.run`). No spec field has a default: the config owns every default.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from typing import ClassVar, Literal

from lakehouse_contract import naming
from lakehouse_contract.naming import Location, TableName
from lakehouse_contract.serial import SpecError, from_data, to_data

LoadMode = Literal["full", "incremental"]
SilverLoadMode = Literal["full", "incremental", "cdc"]  # cdc: bronze holds change rows in log order
DeleteDetection = Literal["every_run", "weekly", "never"]
FileFormat = Literal["parquet", "csv", "json"]
OnModified = Literal["reload", "ignore"]
OnBadFile = Literal["fail", "skip"]
RuleAction = Literal["expect", "expect_or_drop", "expect_or_quarantine", "expect_or_fail"]
SPEC_FLAG = "--spec"


@dataclass(frozen=True)
class JobSpec:
    """What every job spec carries: who it is for and where the tables live."""

    job: ClassVar[str]  # the job module in spark_jobs.jobs
    step: ClassVar[str | None]  # the step-result name it records (None: records none)

    dag_id: str
    task_id: str  # <group>.<task>, the Airflow task id
    table: str  # the source table, silver table, gold model or maintenance group it serves
    location: Location

    def to_json(self) -> str:
        """The spec as one compact JSON document (``job`` first)."""
        return json.dumps({"job": self.job, **to_data(self)}, separators=(",", ":"))

    def relocated(self, location: Location) -> JobSpec:
        return replace(self, location=location)

    def commits(self) -> tuple[TableName, ...]:
        """The layer table whose new version this job commits (bronze, silver or gold; its Airflow
        Asset). Control tables (audit, watermarks, DQ, quarantine, manifest) are not assets."""
        return ()

    def reads(self) -> tuple[TableName, ...]:
        """The layer tables the job reads (its Airflow inlets: the lineage edges)."""
        return ()


@dataclass(frozen=True)
class ValidateSpec(JobSpec):
    """The source checks (run by Airflow's validate_connection, or as a Spark job natively)."""

    job: ClassVar[str] = "validate"
    step: ClassVar[str | None] = "validate_connection"

    source: str  # schema.table in the source database
    columns: dict[str, str]  # contract columns -> Spark type
    jdbc_secret: str  # secret reference (lakehouse_contract.secrets)
    allow_empty: bool


@dataclass(frozen=True)
class ExtractSpec(JobSpec):
    job: ClassVar[str] = "extract"
    step: ClassVar[str | None] = "extract"

    source: str  # schema.table in the source database
    columns: dict[str, str]
    jdbc_secret: str
    primary_key: tuple[str, ...]
    load_mode: LoadMode
    watermark_column: str
    source_timezone: str  # zone of the source's naive timestamps
    delete_detection: DeleteDetection
    lookback_minutes: int  # incremental: re-read this much before the window (late-committed rows)
    partition_column: str | None
    num_partitions: int
    fetch_size: int
    allow_empty: bool
    hourly: bool = False  # cadence: hourly -- the run owns the hourly slice of its interval start
    day_zone: str = "UTC"  # hourly: the zone whose calendar day groups the hourly slices (the pipeline's)


@dataclass(frozen=True)
class CdcSource:
    """Where a CDC table's changes come from: its logical replication slot and publication."""

    source: str  # schema.table in the source database
    slot: str  # logical replication slot (plugin pgoutput), one per table
    publication: str  # the publication the slot decodes (this table only)
    jdbc_secret: str  # secret reference of the source connection (its role needs REPLICATION)


@dataclass(frozen=True)
class ExtractCdcSpec(JobSpec):
    """Change rows since the slot's confirmed position -> landing; the first run (or a re-snapshot,
    mode=full) creates the slot and lands the snapshot it exports (``spark_jobs.jobs.extract_cdc``)."""

    job: ClassVar[str] = "extract_cdc"
    step: ClassVar[str | None] = "extract"

    cdc: CdcSource
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    source_timezone: str  # the zone the watermark registry records the last commit time in
    max_changes: int  # per run at most about this many changes (whole transactions); the rest next run
    partition_column: str | None  # the snapshot's partitioned read
    num_partitions: int
    fetch_size: int
    allow_empty: bool


@dataclass(frozen=True)
class FileSource:
    """Where a file table's drops land and how to read them (``spark_jobs.jobs.extract_files``)."""

    location: str  # a folder or s3a:// prefix: ``root`` + the table's path
    root: str  # the source's root (a Databricks environment moves a local root under its files_root)
    format: FileFormat
    glob: str  # file names under ``location`` (any depth) to load, e.g. ``*.parquet``
    options: dict[str, str]  # Spark reader options (csv: header, sep, ...)
    date_pattern: str  # regex whose first match in the path relative to ``location`` dates the file (YYYY-MM-DD)
    on_modified: OnModified  # a loaded file rewritten in place: reload its rows, or keep them and warn
    on_bad_file: OnBadFile  # unreadable / missing or retyped contract column: fail the table, or skip the file


@dataclass(frozen=True)
class ValidateFilesSpec(JobSpec):
    """The source check of a file table: the location is reachable, a sample file fits the contract."""

    job: ClassVar[str] = "validate_files"
    step: ClassVar[str | None] = "validate_connection"

    files: FileSource
    columns: dict[str, str]
    allow_empty: bool


@dataclass(frozen=True)
class ExtractFilesSpec(JobSpec):
    """New files of a file table -> landing, claimed in the file manifest first (exactly once)."""

    job: ClassVar[str] = "extract_files"
    step: ClassVar[str | None] = "extract"

    files: FileSource
    columns: dict[str, str]
    primary_key: tuple[str, ...]
    source_timezone: str  # the zone a file's modification time is dated in when its path has no date
    allow_empty: bool


@dataclass(frozen=True)
class WriteBronzeSpec(JobSpec):
    job: ClassVar[str] = "write_bronze"
    step: ClassVar[str | None] = "write_bronze"

    source_system: str
    watermark_column: str
    stats_columns: tuple[str, ...]  # columns a new bronze table keeps file statistics on (empty: all)
    allow_empty: bool
    # file tables: the source and contract write_bronze reads the claimed files with (the landing
    # holds extract's read plan, not a copy of the rows); None / {} for database tables
    files: FileSource | None
    columns: dict[str, str]
    # CDC tables: the slot write_bronze confirms once the change rows are committed; None otherwise
    cdc: CdcSource | None
    hourly: bool = False  # cadence: hourly -- the run replaces the hourly slice of its interval start
    day_zone: str = "UTC"  # hourly: the zone whose calendar day groups the hourly slices (the pipeline's)

    def commits(self) -> tuple[TableName, ...]:
        return (naming.bronze(self.location.schemas, self.table),)


@dataclass(frozen=True)
class AuditSpec(JobSpec):
    job: ClassVar[str] = "audit"
    step: ClassVar[str | None] = None

    source: str
    audit_table: str


@dataclass(frozen=True)
class Rule:
    """A silver expectation: a SQL boolean (``expr``), or a foreign key to a parent silver table."""

    name: str
    action: RuleAction
    expr: str | None = None
    fk_column: str | None = None
    fk_parent: str | None = None
    fk_parent_key: str | None = None


@dataclass(frozen=True)
class Derived:
    """A silver column computed from the row (Spark SQL over the columns before it), cast to ``type``."""

    name: str
    expr: str
    type: str


@dataclass(frozen=True)
class SilverSpec(JobSpec):
    job: ClassVar[str] = "silver"
    step: ClassVar[str | None] = "silver"

    primary_key: tuple[str, ...]
    columns: dict[str, str]
    required: tuple[str, ...]
    lowercase: tuple[str, ...]
    pii: dict[str, str]  # column -> mask kind
    hashed_id: str | None
    load_mode: SilverLoadMode
    watermark_column: str
    rules: tuple[Rule, ...]
    pii_key_secret: str | None  # secret reference; set when the table has PII or a hashed id
    audit_table: str
    derive: tuple[Derived, ...] = ()  # computed after standardising, before the expectations
    partition_by: tuple[str, ...] = ()  # silver table partition columns
    history: Literal["none", "scd2"] = "none"  # scd2: every version in <table>_history too
    hourly: bool = False  # cadence: hourly -- the run reads the hourly slices of its interval's day
    day_zone: str = "UTC"  # hourly: the zone of that day (the pipeline's)

    def commits(self) -> tuple[TableName, ...]:
        history = (naming.history(self.location.schemas, self.table),) if self.history == "scd2" else ()
        return (naming.silver(self.location.schemas, self.table), *history)

    def reads(self) -> tuple[TableName, ...]:
        return (naming.bronze(self.location.schemas, self.table),)


@dataclass(frozen=True)
class GoldSpec(JobSpec):
    job: ClassVar[str] = "gold"
    step: ClassVar[str | None] = "gold"

    sql_file: str
    inputs: tuple[str, ...]  # silver tables (and control tables) the SQL reads as views
    partition_by: tuple[str, ...]
    audit_table: str

    def commits(self) -> tuple[TableName, ...]:
        return (naming.gold(self.location.schemas, self.table),)

    def reads(self) -> tuple[TableName, ...]:
        tables = (naming.gold_input(self.location.schemas, name) for name in self.inputs)
        return tuple(
            t
            for t in tables
            if t.schema == self.location.schemas.silver and t != naming.dq_results(self.location.schemas)
        )


@dataclass(frozen=True)
class MaintainSpec(JobSpec):
    job: ClassVar[str] = "maintain"
    step: ClassVar[str | None] = "maintain"

    tables: tuple[str, ...]  # schema.table names
    zorder: tuple[str, ...]
    retention_hours: int


DrAction = Literal["restore_point", "replicate", "restore", "rebuild"]


@dataclass(frozen=True)
class DrSpec(JobSpec):
    """Disaster recovery of every table of a pipeline (``spark_jobs/jobs/dr.py``)."""

    job: ClassVar[str] = "dr"
    step: ClassVar[str | None] = "dr"

    action: DrAction
    tables: tuple[str, ...]  # schema.table names: every table of the pipeline, control tables included
    replica_root: str = ""  # the second bucket / prefix (replicate, rebuild)
    restore_point: str = ""  # its id; empty: the newest (replicate) / required (restore, rebuild)


SPEC_TYPES: dict[str, type[JobSpec]] = {
    cls.job: cls
    for cls in (
        ValidateSpec,
        ExtractSpec,
        ExtractCdcSpec,
        ValidateFilesSpec,
        ExtractFilesSpec,
        WriteBronzeSpec,
        AuditSpec,
        SilverSpec,
        GoldSpec,
        MaintainSpec,
        DrSpec,
    )  # fmt: skip
}


def parse_spec(text: str) -> JobSpec:
    """A spec from its JSON document (the ``job`` field picks the type)."""
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise SpecError(f"spec is not JSON: {exc}") from None
    if not isinstance(data, dict) or data.get("job") not in SPEC_TYPES:
        known = ", ".join(SPEC_TYPES)
        raise SpecError(
            f"spec.job: expected one of {known}, got {data.get('job') if isinstance(data, dict) else data!r}"
        )
    job = data.pop("job")
    return from_data(SPEC_TYPES[job], data, f"{job} spec")
