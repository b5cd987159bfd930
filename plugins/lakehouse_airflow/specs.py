"""Describe, then instantiate: pipeline config -> task specs (pure data, no Airflow objects).

Every spec carries the exact argument list its job receives; the same list is used by the
local (spark-submit) and the Databricks backend.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from lakehouse_airflow.config import PipelineConfig, TableConfig
from lakehouse_airflow.paths import lakehouse_root

BRONZE_STEPS = ("validate_connection", "extract", "write_bronze", "audit")
JDBC_SECRET_PREFIX = "LAKEHOUSE_JDBC"  # env:LAKEHOUSE_JDBC -> _URL/_USER/_PASSWORD at execute time


@dataclass(frozen=True)
class TaskSpec:
    group: str
    task_id: str
    kind: str  # "validate" | "spark"
    job: str | None = None
    args: tuple[str, ...] = ()
    upstream: tuple[str, ...] = ()
    trigger_rule: str = "all_success"
    retries: int | None = None
    source_conn_id: str | None = None  # connection whose secret the job needs (by reference)
    collect_upstream_states: bool = False
    priority_weight: int = 1
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def full_id(self) -> str:
        return f"{self.group}.{self.task_id}"


def _context_args(cfg: PipelineConfig, table: TableConfig, task_id: str) -> list[str]:
    return [
        "--dag-id", "{{ dag.dag_id }}",
        "--run-id", "{{ run_id }}",
        "--task-id", f"{table.name}.{task_id}",
        "--try-number", "{{ ti.try_number }}",
        "--logical-date", "{{ ds }}",
        "--table", table.name,
        "--lakehouse-root", lakehouse_root(cfg.lakehouse.root),
        "--bronze-schema", cfg.lakehouse.bronze_schema,
    ]  # fmt: skip


def source_name(cfg: PipelineConfig, table: TableConfig) -> str:
    return f"{cfg.source.schema_name}.{table.source}"


def bronze_specs(cfg: PipelineConfig, table: TableConfig) -> list[TaskSpec]:
    """validate_connection -> extract -> write_bronze -> audit for one table."""
    g = table.name
    allow_empty = ["--allow-empty"] if table.allow_empty else []
    extract_args = [
        *_context_args(cfg, table, "extract"),
        "--source", source_name(cfg, table),
        "--columns", ",".join(table.columns),
        "--jdbc-secret", f"env:{JDBC_SECRET_PREFIX}",
        "--num-partitions", str(table.num_partitions),
        "--fetch-size", str(table.fetch_size),
        *(["--partition-column", table.partition_column] if table.partition_column else []),
        *allow_empty,
    ]  # fmt: skip
    write_args = [
        *_context_args(cfg, table, "write_bronze"),
        "--source-system", cfg.source.system,
        *allow_empty,
    ]  # fmt: skip
    audit_args = [
        *_context_args(cfg, table, "audit"),
        "--source", source_name(cfg, table),
        "--audit-table", cfg.lakehouse.audit_table,
        "--upstream-error",
        f"{{{{ ti.xcom_pull(task_ids='{g}.validate_connection', key='error') or '' }}}}",
    ]  # fmt: skip
    return [
        TaskSpec(g, "validate_connection", "validate", source_conn_id=cfg.source.conn_id,
                 extra={"source": source_name(cfg, table), "columns": tuple(table.columns),
                        "schema": cfg.source.schema_name, "table": table.source,
                        "allow_empty": table.allow_empty}),
        TaskSpec(g, "extract", "spark", "extract", tuple(extract_args), (f"{g}.validate_connection",),
                 source_conn_id=cfg.source.conn_id),
        TaskSpec(g, "write_bronze", "spark", "write_bronze", tuple(write_args), (f"{g}.extract",)),
        TaskSpec(g, "audit", "spark", "audit", tuple(audit_args), (f"{g}.write_bronze",),
                 trigger_rule="all_done", retries=0, collect_upstream_states=True),
    ]  # fmt: skip


def pipeline_specs(cfg: PipelineConfig) -> list[TaskSpec]:
    """All task specs of the pipeline, groups in configured priority order."""
    tables = cfg.ordered_tables()
    return [
        replace(spec, priority_weight=len(tables) - rank)
        for rank, table in enumerate(tables)
        for spec in bronze_specs(cfg, table)
    ]
