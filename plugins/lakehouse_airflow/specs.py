"""Describe, then instantiate: pipeline config -> task specs (pure data, no Airflow objects).

Every spec carries the exact argument list its job receives; the same list is used by the
local (spark-submit) and the Databricks backend.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace

from lakehouse_airflow.config import PipelineConfig, TableConfig
from lakehouse_airflow.layers import CONTROL_INPUTS
from lakehouse_airflow.paths import lakehouse_root

BRONZE_STEPS = ("validate_connection", "extract", "write_bronze", "audit")
JDBC_SECRET_PREFIX = "LAKEHOUSE_JDBC"  # env:LAKEHOUSE_JDBC -> _URL/_USER/_PASSWORD at execute time
PII_KEY_ENV = "LAKEHOUSE_PII_KEY"  # env:LAKEHOUSE_PII_KEY <- password of the privacy key connection
# silver/gold run when no upstream failed: a parent table left out of the run (skipped) keeps its
# current silver table, a failed one still stops its dependants (upstream_failed)
LAYER_TRIGGER = "none_failed"


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
    pii_key_conn_id: str | None = None  # connection whose password is the PII hashing key
    collect_upstream_states: bool = False
    tables: tuple[str, ...] = ()  # tables this task serves: it skips itself when a run selects none of them
    priority_weight: int = 1
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def full_id(self) -> str:
        return f"{self.group}.{self.task_id}"


def run_args(cfg: PipelineConfig, full_task_id: str, table: str) -> list[str]:
    lh = cfg.lakehouse
    return [
        "--dag-id", "{{ dag.dag_id }}",
        "--run-id", "{{ run_id }}",
        "--task-id", full_task_id,
        "--try-number", "{{ ti.try_number }}",
        "--logical-date", "{{ ds }}",
        "--table", table,
        "--lakehouse-root", lakehouse_root(lh.root),
        "--bronze-schema", lh.bronze_schema,
        "--silver-schema", lh.silver_schema,
        "--gold-schema", lh.gold_schema,
    ]  # fmt: skip


def _context_args(cfg: PipelineConfig, table: TableConfig, task_id: str) -> list[str]:
    return run_args(cfg, f"{table.name}.{task_id}", table.name)


def source_name(cfg: PipelineConfig, table: TableConfig) -> str:
    return f"{cfg.source.schema_name}.{table.source}"


def bronze_stats_columns(table: TableConfig) -> list[str]:
    """The bronze columns worth file statistics: keys and the columns loads, readers and Z-ORDER
    filter or cluster on (statistics on every column cost ~30 % of a bronze write)."""
    wanted = [*table.primary_key, table.partition_column, table.watermark_column, *table.zorder]
    picked = [c for c in wanted if c and c in table.columns]
    return [*dict.fromkeys(picked), "_logical_date", "_record_status"]


def bronze_specs(cfg: PipelineConfig, table: TableConfig) -> list[TaskSpec]:
    """validate_connection -> extract -> write_bronze -> audit for one table."""
    g = table.name
    allow_empty = ["--allow-empty"] if table.allow_empty else []
    extract_args = [
        *_context_args(cfg, table, "extract"),
        "--source", source_name(cfg, table),
        "--columns", json.dumps(table.columns, separators=(",", ":")),
        "--jdbc-secret", f"env:{JDBC_SECRET_PREFIX}",
        "--primary-key", ",".join(table.primary_key),
        "--load-mode", table.load_mode,
        "--requested-mode", "{{ params.mode }}",
        "--watermark-column", table.watermark_column,
        "--interval-start", "{{ data_interval_start }}",
        "--interval-end", "{{ data_interval_end }}",
        "--source-timezone", cfg.source_timezone(),
        "--delete-detection", table.delete_detection,
        "--num-partitions", str(table.num_partitions),
        "--fetch-size", str(table.fetch_size),
        *(["--partition-column", table.partition_column] if table.partition_column else []),
        *allow_empty,
    ]  # fmt: skip
    # the same checks as a Spark job, for runs without an Airflow worker (the native Databricks job)
    validate_args = [
        *_context_args(cfg, table, "validate_connection"),
        "--source", source_name(cfg, table),
        "--columns", json.dumps(table.columns, separators=(",", ":")),
        "--jdbc-secret", f"env:{JDBC_SECRET_PREFIX}",
        *allow_empty,
    ]  # fmt: skip
    write_args = [
        *_context_args(cfg, table, "write_bronze"),
        "--source-system", cfg.source.system,
        "--watermark-column", table.watermark_column,
        "--stats-columns", ",".join(bronze_stats_columns(table)),
        *allow_empty,
    ]  # fmt: skip
    audit_args = [
        *_context_args(cfg, table, "audit"),
        "--source", source_name(cfg, table),
        "--audit-table", cfg.lakehouse.audit_table,
        "--upstream-error",
        f"{{{{ ti.xcom_pull(task_ids='{g}.validate_connection', key='error') or '' }}}}",
    ]  # fmt: skip
    served = (table.name,)
    return [
        TaskSpec(g, "validate_connection", "validate", "validate", tuple(validate_args),
                 source_conn_id=cfg.source.conn_id, tables=served,
                 extra={"source": source_name(cfg, table), "columns": tuple(table.columns),
                        "schema": cfg.source.schema_name, "table": table.source,
                        "allow_empty": table.allow_empty}),
        TaskSpec(g, "extract", "spark", "extract", tuple(extract_args), (f"{g}.validate_connection",),
                 source_conn_id=cfg.source.conn_id, tables=served),
        TaskSpec(g, "write_bronze", "spark", "write_bronze", tuple(write_args), (f"{g}.extract",), tables=served),
        TaskSpec(g, "audit", "spark", "audit", tuple(audit_args), (f"{g}.write_bronze",),
                 trigger_rule="all_done", retries=0, collect_upstream_states=True, tables=served),
    ]  # fmt: skip


def silver_rules(cfg: PipelineConfig, table: TableConfig) -> list[dict[str, str | None]]:
    """The table's expectations in evaluation order; primary-key and ``required`` columns get a
    generated ``<col>_not_null`` quarantine rule, foreign keys an ``fk_<col>`` rule."""
    sv = table.silver
    rules: list[dict[str, str | None]] = [
        {"name": f"{c}_not_null", "action": "expect_or_quarantine", "expr": f"{c} IS NOT NULL"}
        for c in table.silver_required()
    ]
    for action in ("expect_or_fail", "expect_or_quarantine", "expect_or_drop", "expect"):
        rules += [{"name": n, "action": action, "expr": e} for n, e in getattr(sv, action).items()]
    for col, fk in sv.foreign_keys.items():
        parent_key = cfg.tables[fk.parent].primary_key[0]
        rules.append({"name": f"fk_{col}", "action": fk.action, "fk_column": col,
                      "fk_parent": fk.parent, "fk_parent_key": parent_key})  # fmt: skip
    return rules


def silver_spec_json(cfg: PipelineConfig, table: TableConfig) -> str:
    """The table's silver spec as compact JSON (passed to the job as one argument)."""
    spec = {
        "table": table.name,
        "primary_key": list(table.primary_key),
        "columns": table.columns,
        "required": list(table.silver_required()),
        "lowercase": list(table.silver.lowercase),
        "pii": table.pii,
        "hashed_id": table.silver.hashed_id,
        "load_mode": table.load_mode,
        "watermark_column": table.watermark_column,
        "rules": silver_rules(cfg, table),
    }
    # identifiers and expressions are validated by the config (no Jinja markers), so the argument
    # renders unchanged through the operator's templating
    return json.dumps(spec, separators=(",", ":"))


def silver_specs(cfg: PipelineConfig) -> list[TaskSpec]:
    """One task per silver table, after its bronze group and the silver tables it checks keys against."""
    group = cfg.lakehouse.silver_schema
    specs = []
    for table in cfg.silver_tables():
        needs_key = bool(table.pii or table.silver.hashed_id)
        args = [
            *run_args(cfg, f"{group}.{table.name}", table.name),
            "--spec-json", silver_spec_json(cfg, table),
            "--audit-table", cfg.lakehouse.audit_table,
            *(["--pii-key-secret", f"env:{PII_KEY_ENV}"] if needs_key else []),
        ]  # fmt: skip
        parents = [f"{group}.{fk.parent}" for fk in table.silver.foreign_keys.values()]
        specs.append(TaskSpec(group, table.name, "spark", "silver", tuple(args),
                              (f"{table.name}.audit", *dict.fromkeys(parents)), trigger_rule=LAYER_TRIGGER,
                              pii_key_conn_id=cfg.privacy.key_conn_id if needs_key else None,
                              tables=(table.name,)))  # fmt: skip
    return specs


def gold_specs(cfg: PipelineConfig) -> list[TaskSpec]:
    """One task per gold model, after the silver tables it reads (``dq_results``: all of them)."""
    silver_group, group = cfg.lakehouse.silver_schema, cfg.lakehouse.gold_schema
    all_silver = [f"{silver_group}.{t.name}" for t in cfg.silver_tables()]
    specs = []
    for name, model in cfg.gold.models.items():
        args = [
            *run_args(cfg, f"{group}.{name}", name),
            "--sql-file", str(cfg.gold_sql_path(name)),
            "--inputs", ",".join(model.inputs),
            "--audit-table", cfg.lakehouse.audit_table,
            *(["--partition-by", ",".join(model.partition_by)] if model.partition_by else []),
        ]  # fmt: skip
        upstream: list[str] = []
        for item in model.inputs:
            upstream += all_silver if item in CONTROL_INPUTS else [f"{silver_group}.{item}"]
        served = tuple(u.rsplit(".", 1)[-1] for u in dict.fromkeys(upstream))
        specs.append(TaskSpec(group, name, "spark", "gold", tuple(args), tuple(dict.fromkeys(upstream)),
                              trigger_rule=LAYER_TRIGGER, tables=served))  # fmt: skip
    return specs


def pipeline_specs(cfg: PipelineConfig) -> list[TaskSpec]:
    """All task specs: bronze groups in configured priority order, then silver, then gold."""
    tables = cfg.ordered_tables()
    bronze = [
        replace(spec, priority_weight=len(tables) - rank)
        for rank, table in enumerate(tables)
        for spec in bronze_specs(cfg, table)
    ]
    return [*bronze, *silver_specs(cfg), *gold_specs(cfg)]
