"""Pipeline config -> Airflow DAG: one task group per source table, in configured priority."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, TaskGroup

from lakehouse_airflow.alerts import FailureNotifier
from lakehouse_airflow.config import PipelineConfig, TableConfig, load_pipelines
from lakehouse_airflow.environments import current_environment
from lakehouse_airflow.factory import build_operator
from lakehouse_airflow.maintenance import build_maintenance_dag
from lakehouse_airflow.params import dag_params
from lakehouse_airflow.specs import pipeline_specs
from lakehouse_airflow.summary import SUMMARY_TASK_ID, RunSummaryOperator


def _doc(cfg: PipelineConfig) -> str:
    rows = "\n".join(
        f"| {t.priority} | `{t.name}` | `{cfg.source.schema_name}.{t.source}` | {_mode(t)} | "
        f"{', '.join(t.primary_key)} | {', '.join(t.pii) or '-'} |"
        for t in cfg.ordered_tables()
    )
    return (
        f"### {cfg.dag_id}\n\n{cfg.description}\n\n"
        f"Source connection `{cfg.source.conn_id}` (database `{cfg.source.database}`), bronze schema "
        f"`{cfg.lakehouse.bronze_schema}`, audit table `{cfg.lakehouse.audit_table}`.\n\n"
        "| priority | table | source | mode | primary key | PII |\n|---|---|---|---|---|---|\n"
        + rows
        + f"\n\nSilver: `{cfg.lakehouse.silver_schema}` ({len(cfg.silver_tables())} tables, expectations in the "
        f"pipeline file). Gold: `{cfg.lakehouse.gold_schema}` models "
        + ", ".join(f"`{m}`" for m in cfg.gold.models)
        + "."
    )


def _mode(table: TableConfig) -> str:
    if table.load_mode == "incremental":
        return f"incremental on `{table.watermark_column}` (deletes: {table.delete_detection})"
    return "full"


def _tooltip(cfg: PipelineConfig, group: str) -> str:
    if group == cfg.lakehouse.silver_schema:
        return "bronze -> silver: contract, expectations, PII protection, MERGE by key"
    if group == cfg.lakehouse.gold_schema:
        return "silver -> gold models (Spark SQL)"
    return f"{group}: source -> bronze"


def build_dag(cfg: PipelineConfig) -> DAG:
    tz = pendulum.timezone(cfg.timezone)
    schedule = CronDataIntervalTimetable(cfg.schedule, timezone=tz) if cfg.schedule else None
    default_args = {
        "owner": cfg.owner,
        "retries": cfg.retries,
        "retry_delay": dt.timedelta(seconds=cfg.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(seconds=cfg.max_retry_delay_seconds),
    }
    if cfg.alerts.webhook_conn_id or cfg.alerts.email:
        default_args["on_failure_callback"] = FailureNotifier(cfg.alerts)
    env = current_environment()
    with DAG(
        dag_id=cfg.dag_id,
        description=cfg.description or None,
        schedule=schedule,
        start_date=pendulum.datetime(cfg.start_date.year, cfg.start_date.month, cfg.start_date.day, tz=tz),
        catchup=cfg.catchup,
        max_active_runs=cfg.max_active_runs,
        default_args=default_args,
        tags=list(cfg.tags),
        doc_md=_doc(cfg),
        params=dag_params(cfg),
    ) as dag:
        specs = pipeline_specs(cfg)
        groups: dict[str, TaskGroup] = {}
        tasks = {}
        for spec in specs:
            if spec.group not in groups:
                groups[spec.group] = TaskGroup(group_id=spec.group, tooltip=_tooltip(cfg, spec.group))
            with groups[spec.group]:
                tasks[spec.full_id] = build_operator(spec, cfg, env)
        for spec in specs:
            for up in spec.upstream:
                tasks[up] >> tasks[spec.full_id]
        # after every task (not only the leaves: a gold model is upstream_failed while other
        # branches still run), whatever their outcome
        summary = RunSummaryOperator(task_id=SUMMARY_TASK_ID, cfg=cfg, trigger_rule="all_done", retries=0)
        list(tasks.values()) >> summary
    return dag


def build_all(directory: str) -> dict[str, DAG]:
    """Per pipeline file in ``directory``: its DAG, and its maintenance DAG unless disabled."""
    dags: dict[str, DAG] = {}
    for cfg in load_pipelines(directory):
        dags[cfg.dag_id] = build_dag(cfg)
        if cfg.maintenance.enabled:
            maintenance = build_maintenance_dag(cfg)
            dags[maintenance.dag_id] = maintenance
    return dags
