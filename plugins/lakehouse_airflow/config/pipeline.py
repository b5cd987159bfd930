"""Typed, validated pipeline configuration (``include/pipelines/*.yaml``).

A broken file raises :class:`PipelineConfigError` naming the file and the field, which Airflow
shows as a DAG import error; nothing is skipped silently.
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from lakehouse_airflow.config.base import PipelineConfigError, Strict, describe_error
from lakehouse_airflow.config.expressions import ExpressionError, check_expression
from lakehouse_airflow.config.layers import (
    ACTIONS,
    CdcConfig,
    DrConfig,
    GoldConfig,
    HourlyConfig,
    MaintenanceConfig,
    MaskKind,
    PrivacyConfig,
    SilverConfig,
)
from lakehouse_airflow.config.monitor import AlertsConfig, MonitorConfig
from lakehouse_airflow.config.sources import (
    FILE_WATERMARK,
    FileSourceConfig,
    FileTableConfig,
    SourceConfig,
    known_zone,
)
from lakehouse_contract.naming import AUDIT_LOG, BRONZE_PREFIX, CONTRACT_TYPE, CONTROL_INPUTS, IDENTIFIER
from lakehouse_contract.storage import DEFAULT_STORAGE_CONN_ID

_SPARK_TYPE = re.compile(CONTRACT_TYPE)


class LakehouseConfig(Strict):
    root: str | None = None  # a directory or s3a://bucket/prefix; unset: $LAKEHOUSE_ROOT, else .local/lakehouse
    storage_conn_id: str = DEFAULT_STORAGE_CONN_ID  # `aws` connection: the job's keys for an s3a:// root
    bronze_schema: str = Field(default="inventory_bronze", pattern=IDENTIFIER)
    silver_schema: str = Field(default="inventory_silver", pattern=IDENTIFIER)
    gold_schema: str = Field(default="inventory_gold", pattern=IDENTIFIER)
    bronze_prefix: str = Field(default=BRONZE_PREFIX, pattern=r"^[a-z][a-z0-9_]*_$")  # bronze tables: <prefix><table>
    audit_table: str = Field(default=AUDIT_LOG, pattern=IDENTIFIER)


class SparkConfig(Strict):
    conn_id: str = "spark_local"


LoadMode = Literal["full", "incremental"]
DeleteDetection = Literal["every_run", "weekly", "never"]
# how often a table's source is read, and how: daily batch (load_mode decides full or incremental),
# hourly micro-batches (incremental, one bronze slice per hour, silver daily: docs/cadences.md), or
# change data capture from the source's logical replication log
Cadence = Literal["daily", "hourly", "cdc"]


class TableDefaults(Strict):
    load_mode: LoadMode = "full"
    watermark_column: str = Field(default="updated_at", pattern=IDENTIFIER)
    delete_detection: DeleteDetection = "every_run"
    fetch_size: int = Field(default=10_000, ge=1)
    num_partitions: int = Field(default=2, ge=1, le=64)
    # incremental: each window also re-reads this much before its start (rows committed late)
    lookback_minutes: int = Field(default=0, ge=0, le=7 * 24 * 60)
    cadence: Cadence = "daily"
    # cdc: a run reads at most about this many changes (whole transactions); the rest the next run
    cdc_max_changes: int = Field(default=500_000, ge=1)


class TableConfig(Strict):
    name: str = Field(pattern=IDENTIFIER)
    priority: int = Field(ge=1)
    source: str = Field(pattern=IDENTIFIER)
    primary_key: tuple[str, ...] = Field(min_length=1)
    load_mode: LoadMode
    watermark_column: str = Field(pattern=IDENTIFIER)  # incremental: rows with interval start <= col < end
    delete_detection: DeleteDetection  # incremental: when source keys are compared to find deletes
    partition_column: str | None = None
    num_partitions: int = Field(ge=1, le=64)
    fetch_size: int = Field(ge=1)
    lookback_minutes: int = Field(ge=0, le=7 * 24 * 60)
    cadence: Cadence
    cdc_max_changes: int = Field(ge=1)
    pii: dict[str, MaskKind] = {}  # column -> display mask; raw value stays in bronze only
    allow_empty: bool = False
    zorder: tuple[str, ...] = ()  # maintenance: Z-ORDER columns of the table's bronze and silver tables
    mandatory: bool = True  # monitor: a failure blocks the later stages (silver, gold) of the run
    sla_minutes: int | None = Field(default=None, ge=1)  # monitor: per-task SLA (default monitor.task_sla_minutes)
    columns: dict[str, str] = Field(min_length=1)
    silver: SilverConfig = SilverConfig()
    files: FileTableConfig | None = None  # file sources: the table's files

    @field_validator("columns")
    @classmethod
    def _column_types(cls, columns: dict[str, str]) -> dict[str, str]:
        for col, typ in columns.items():
            if not re.match(IDENTIFIER, col):
                raise ValueError(f"column name {col!r} is not a lower-case identifier")
            if not _SPARK_TYPE.match(typ):
                raise ValueError(f"column {col!r} has unsupported type {typ!r}")
        return columns

    @model_validator(mode="after")
    def _columns_known(self) -> TableConfig:
        named = {
            "primary_key": self.primary_key,
            "pii": tuple(self.pii),
            "silver.required": self.silver.required,
            "silver.lowercase": self.silver.lowercase,
            "silver.foreign_keys": tuple(self.silver.foreign_keys),
            "zorder": self.zorder,
        }
        for field_name, cols in named.items():
            unknown = [c for c in cols if c not in self.columns]
            if unknown:
                raise ValueError(f"{field_name} names columns not in columns: {unknown}")
        if self.silver.hashed_id and len(self.primary_key) != 1:
            raise ValueError("silver.hashed_id needs a single-column primary key")
        generated = {f"{c}_not_null" for c in self.silver_required()}
        generated |= {f"fk_{c}" for c in self.silver.foreign_keys}
        clash = sorted(generated & {name for action in ACTIONS for name in getattr(self.silver, action)})
        if clash:
            raise ValueError(f"silver rule names {clash} collide with generated rules (required/foreign_keys)")
        self._check_derived()
        if (
            self.watermark_column != FILE_WATERMARK  # file tables: bronze's own column (set for a file source)
            and self.load_mode == "incremental"
            and self.columns.get(self.watermark_column) != "timestamp"
        ):
            raise ValueError(f"watermark_column {self.watermark_column!r} must be a timestamp column of columns")
        if self.partition_column and self.partition_column not in self.columns:
            raise ValueError(f"partition_column {self.partition_column!r} is not in columns")
        if self.silver.history == "scd2" and self.load_mode != "incremental" and self.cadence != "cdc":
            raise ValueError(
                "silver.history: scd2 builds the versions from change rows or dated slices: the table needs "
                "load_mode: incremental (with its watermark_column) or cadence: cdc"
            )
        return self

    def _check_derived(self) -> None:
        """Derived columns: new names, each a row-level expression over the columns before it."""
        seen = list(self.columns)
        for name, derived in self.silver.derive.items():
            if not re.match(IDENTIFIER, name) or name in self.columns:
                raise ValueError(f"silver.derive.{name}: not a new lower-case column name")
            _check_sql(f"silver.derive.{name}", derived.expr, seen, boolean=False)
            seen.append(name)
        unknown = [c for c in self.silver.partition_by if c not in seen]
        if unknown:
            raise ValueError(f"silver.partition_by names columns not in columns or silver.derive: {unknown}")

    @model_validator(mode="after")
    def _expressions_parse(self) -> TableConfig:
        """Every expectation is one row-level boolean expression over this table's (and derived) columns."""
        columns = [*self.columns, *self.silver.derive]
        for action in ACTIONS:
            for name, expr in getattr(self.silver, action).items():
                _check_sql(f"silver.{action}.{name}", expr, columns, boolean=True)
        return self

    def silver_required(self) -> tuple[str, ...]:
        """NOT NULL in silver: the primary key, then ``silver.required`` (each once, in order)."""
        return tuple(dict.fromkeys([*self.primary_key, *self.silver.required]))


def _check_sql(where: str, expr: str, columns: list[str], *, boolean: bool) -> None:
    if any(marker in expr for marker in ("{{", "{%", "{#")):
        raise ValueError(f"{where}: Jinja markers are not allowed in expressions")
    try:
        check_expression(expr, columns, boolean=boolean)
    except ExpressionError as exc:
        raise ValueError(f"{where}: {expr!r} {exc}") from None


class PipelineConfig(Strict):
    dag_id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    owner: str = Field(min_length=1)
    tags: tuple[str, ...] = ()
    schedule: str | None = None
    timezone: str = "UTC"
    start_date: dt.date
    catchup: bool = False
    max_active_runs: int = Field(default=1, ge=1)
    retries: int = Field(default=2, ge=0)
    retry_delay_seconds: int = Field(default=60, ge=0)
    max_retry_delay_seconds: int = Field(default=900, ge=0)
    source: Annotated[SourceConfig | FileSourceConfig, Field(discriminator="kind")]
    lakehouse: LakehouseConfig = LakehouseConfig()
    spark: SparkConfig = SparkConfig()
    defaults: TableDefaults = TableDefaults()
    privacy: PrivacyConfig = PrivacyConfig()
    tables: dict[str, TableConfig] = Field(min_length=1)
    gold: GoldConfig = GoldConfig()
    maintenance: MaintenanceConfig = MaintenanceConfig()
    dr: DrConfig = DrConfig()
    cdc: CdcConfig = CdcConfig()
    hourly: HourlyConfig = HourlyConfig()
    monitor: MonitorConfig = MonitorConfig()
    alerts: AlertsConfig = AlertsConfig()
    base_dir: Path = Path(".")  # folder of the pipeline file (set by the loader; sql_file is relative to it)

    @model_validator(mode="before")
    @classmethod
    def _apply_table_defaults(cls, data: Any) -> Any:
        """Fill each table's unset settings from ``defaults`` and its name from its key."""
        if not isinstance(data, dict) or not isinstance(data.get("tables"), dict):
            return data
        source = data.get("source")
        if isinstance(source, dict) and "kind" not in source:
            data = {**data, "source": {"kind": "jdbc", **source}}
        files = isinstance(data.get("source"), dict) and data["source"].get("kind") == "files"
        # file tables load per logical date (a slice per run) and never compare keys to find deletes
        file_settings = {"load_mode": "incremental", "watermark_column": FILE_WATERMARK, "delete_detection": "never"}
        defaults = data.get("defaults") or {}
        if not isinstance(defaults, dict):
            return data
        merged = {}
        for name, table in data["tables"].items():
            if not isinstance(table, dict):
                merged[name] = table
                continue
            base = {
                **TableDefaults().model_dump(),
                **{k: v for k, v in defaults.items() if k in TableDefaults.model_fields},
            }
            merged[name] = {**base, "name": name, "source": name, **table, **(file_settings if files else {})}
        return {**data, "tables": merged}

    @model_validator(mode="after")
    def _tables_match_source(self) -> PipelineConfig:
        files = self.source.kind == "files"
        for table in self.tables.values():
            if files and table.files is None:
                raise ValueError(f"tables.{table.name}.files: required for a file source (format, path, ...)")
            if not files and table.files is not None:
                raise ValueError(f"tables.{table.name}.files: only for a file source (source.kind: files)")
            if files and table.cadence == "cdc":
                raise ValueError(f"tables.{table.name}.cadence: cdc reads a database's log, not files")
            if files and table.cadence == "hourly":
                raise ValueError(
                    f"tables.{table.name}.cadence: hourly is for database tables (file drops load per date)"
                )
            if table.cadence == "hourly" and table.load_mode != "incremental":
                raise ValueError(
                    f"tables.{table.name}.cadence: hourly loads each hour's window: the table needs "
                    "load_mode: incremental (with its watermark_column)"
                )
        return self

    @model_validator(mode="after")
    def _unique_priorities(self) -> PipelineConfig:
        seen: dict[int, str] = {}
        for table in self.tables.values():
            if table.priority in seen:
                raise ValueError(f"tables {seen[table.priority]!r} and {table.name!r} share priority {table.priority}")
            seen[table.priority] = table.name
        return self

    @model_validator(mode="after")
    def _layer_references(self) -> PipelineConfig:
        silver = {t.name for t in self.silver_tables()}
        for table in self.silver_tables():
            for col, fk in table.silver.foreign_keys.items():
                if fk.parent not in silver or fk.parent == table.name:
                    raise ValueError(
                        f"tables.{table.name}.silver.foreign_keys.{col}: parent {fk.parent!r} is not another "
                        "table with a silver layer"
                    )
                if len(self.tables[fk.parent].primary_key) != 1:
                    raise ValueError(f"tables.{table.name}.silver.foreign_keys.{col}: parent key must be one column")
        self._check_fk_cycles()
        for name, model in self.gold.models.items():
            unknown = [i for i in model.inputs if i not in silver and i not in CONTROL_INPUTS]
            if unknown:
                raise ValueError(f"gold.models.{name}.inputs: {unknown} are not silver tables of this pipeline")
        return self

    def _check_fk_cycles(self) -> None:
        state: dict[str, int] = {}

        def visit(name: str, path: tuple[str, ...]) -> None:
            if state.get(name) == 2:
                return
            if state.get(name) == 1:
                raise ValueError(f"silver foreign keys form a cycle: {' -> '.join((*path, name))}")
            state[name] = 1
            for fk in self.tables[name].silver.foreign_keys.values():
                visit(fk.parent, (*path, name))
            state[name] = 2

        for t in self.silver_tables():
            visit(t.name, ())

    @field_validator("timezone")
    @classmethod
    def _dag_zone(cls, value: str) -> str:
        return known_zone(value)

    def source_timezone(self) -> str:
        return self.source.timezone or self.timezone

    def cdc_tables(self) -> list[TableConfig]:
        """The ``cadence: cdc`` tables (their own DAG), in priority order."""
        return [t for t in self.ordered_tables() if t.cadence == "cdc"]

    def hourly_tables(self) -> list[TableConfig]:
        """The ``cadence: hourly`` tables (their bronze in their own DAG), in priority order."""
        return [t for t in self.ordered_tables() if t.cadence == "hourly"]

    def silver_tables(self) -> list[TableConfig]:
        return [t for t in self.ordered_tables() if t.silver.enabled]

    def gold_sql_path(self, model: str) -> Path:
        return (self.base_dir / self.gold.models[model].sql_file).resolve()

    def ordered_tables(self) -> list[TableConfig]:
        """Tables in run order: configured priority, then name (stable, deterministic)."""
        return sorted(self.tables.values(), key=lambda t: (t.priority, t.name))


def load_pipeline(path: str | Path) -> PipelineConfig:
    """Parse and validate one pipeline file."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineConfigError(f"{path}: cannot read pipeline config: {exc}") from exc
    if not isinstance(raw, dict):
        raise PipelineConfigError(f"{path}: expected a mapping at the top level")
    if "base_dir" in raw:
        raise PipelineConfigError(f"{path}: base_dir: unknown key")
    try:
        cfg = PipelineConfig.model_validate({**raw, "base_dir": path.resolve().parent})
    except ValidationError as exc:
        raise PipelineConfigError(f"{path}: {describe_error(exc)}") from None
    for model in cfg.gold.models:
        if not cfg.gold_sql_path(model).is_file():
            raise PipelineConfigError(f"{path}: gold.models.{model}.sql_file: {cfg.gold_sql_path(model)} not found")
    return cfg


def with_absolute_sql_paths(raw: dict[str, Any], pipeline_file: Path) -> dict[str, Any]:
    """A copy of a raw pipeline mapping whose ``gold`` SQL paths no longer depend on where the file
    lives (for writing a modified copy of a pipeline elsewhere: tests, benchmarks)."""
    models = (raw.get("gold") or {}).get("models") or {}
    fixed = {
        name: {**model, "sql_file": str((pipeline_file.parent / model["sql_file"]).resolve())}
        for name, model in models.items()
    }
    return {**raw, "gold": {**(raw.get("gold") or {}), "models": fixed}} if models else dict(raw)


def load_pipelines(directory: str | Path) -> list[PipelineConfig]:
    """Every ``*.yaml``/``*.yml`` in ``directory`` (sorted by file name); dag ids must be unique."""
    directory = Path(directory)
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    configs: list[PipelineConfig] = []
    owners: dict[str, Path] = {}
    for f in files:
        cfg = load_pipeline(f)
        if cfg.dag_id in owners:
            raise PipelineConfigError(f"{f}: dag_id: {cfg.dag_id!r} is already defined in {owners[cfg.dag_id]}")
        owners[cfg.dag_id] = f
        configs.append(cfg)
    return configs
