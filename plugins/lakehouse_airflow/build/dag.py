"""Pipeline config -> Airflow DAG: one task group per source table, in configured priority."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, CronDataIntervalTimetable, TaskGroup

from lakehouse_airflow.build.dr import build_dr_dag
from lakehouse_airflow.build.factory import attach_run_cluster, build_operator
from lakehouse_airflow.build.maintenance import build_maintenance_dag
from lakehouse_airflow.build.params import dag_params
from lakehouse_airflow.config.environments import current_environment
from lakehouse_airflow.config.pipeline import PipelineConfig, TableConfig, load_pipelines
from lakehouse_airflow.config.sources import FileSourceConfig
from lakehouse_airflow.describe.dr import replica_root
from lakehouse_airflow.describe.pipeline import pipeline_specs, source_label
from lakehouse_airflow.describe.tasks import SparkTask, TaskSpec
from lakehouse_airflow.monitor.alerts import FailureNotifier
from lakehouse_airflow.operators.summary import SUMMARY_TASK_ID, RunSummaryOperator
from lakehouse_airflow.paths import files_root


def _source_doc(cfg: PipelineConfig) -> str:
    if isinstance(cfg.source, FileSourceConfig):
        return f"File source `{cfg.source.system}` (files under `{files_root(cfg.source.root, cfg.source.system)}`)"
    return f"Source connection `{cfg.source.conn_id}` (database `{cfg.source.database}`)"


def _doc(cfg: PipelineConfig) -> str:
    rows = "\n".join(
        f"| {t.priority} | `{t.name}` | `{source_label(cfg, t)}` | {_mode(t)} | "
        f"{', '.join(t.primary_key)} | {', '.join(t.pii) or '-'} |"
        for t in cfg.ordered_tables()
    )
    return (
        f"### {cfg.dag_id}\n\n{cfg.description}\n\n"
        f"{_source_doc(cfg)}, bronze schema "
        f"`{cfg.lakehouse.bronze_schema}`, audit table `{cfg.lakehouse.audit_table}`.\n\n"
        "| priority | table | source | mode | primary key | PII |\n|---|---|---|---|---|---|\n"
        + rows
        + f"\n\nSilver: `{cfg.lakehouse.silver_schema}` ({len(cfg.silver_tables())} tables, expectations in the "
        f"pipeline file). Gold: `{cfg.lakehouse.gold_schema}` models "
        + ", ".join(f"`{m}`" for m in cfg.gold.models)
        + "."
    )


def _mode(table: TableConfig) -> str:
    if table.files is not None:
        return f"new {table.files.format} files per date (manifest; modified: {table.files.on_modified})"
    if table.cadence == "cdc":
        return "change data capture (logical replication slot)"
    if table.load_mode == "incremental":
        return f"incremental on `{table.watermark_column}` (deletes: {table.delete_detection})"
    return "full"


TOOLTIPS = {
    "silver": "bronze -> silver: contract, expectations, PII protection, MERGE by key",
    "gold": "silver -> gold models (Spark SQL)",
}


def _task_group(spec: TaskSpec, rank: int, width: int) -> TaskGroup:
    """The group of a spec. Bronze groups are listed in the configured priority: the Airflow 3 grid
    orders sibling groups without dependencies by group id (the serialized DAG's children come back
    sorted), so their ids carry the rank (``01_products``) while the task ids keep the table name
    (``products.extract``: ``prefix_group_id=False``) and the grid shows the table name."""
    if spec.layer == "bronze":
        return TaskGroup(
            group_id=f"{rank:0{width}d}_{spec.group}",
            group_display_name=spec.group,
            prefix_group_id=False,
            tooltip=f"{spec.group}: source -> bronze",
        )
    return TaskGroup(group_id=spec.group, tooltip=TOOLTIPS.get(spec.layer, spec.group))


def build_dag(cfg: PipelineConfig) -> DAG:
    env = current_environment(pipeline=cfg.dag_id)
    tz = pendulum.timezone(cfg.timezone)
    cron = env.schedule_for(cfg.schedule)
    schedule = CronDataIntervalTimetable(cron, timezone=tz) if cron else None
    default_args = {
        "owner": cfg.owner,
        "retries": cfg.retries,
        "retry_delay": dt.timedelta(seconds=cfg.retry_delay_seconds),
        "retry_exponential_backoff": True,
        "max_retry_delay": dt.timedelta(seconds=cfg.max_retry_delay_seconds),
    }
    if cfg.alerts.webhook_conn_id or cfg.alerts.email:
        default_args["on_failure_callback"] = FailureNotifier(cfg.alerts)
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
        width = len(str(len(cfg.tables)))
        for spec in specs:
            if spec.group not in groups:
                groups[spec.group] = _task_group(spec, len(groups) + 1, width)
            with groups[spec.group]:
                task_id = spec.full_id if spec.layer == "bronze" else spec.task_id
                tasks[spec.full_id] = build_operator(spec, cfg, env, task_id=task_id)
        for spec in specs:
            for up in spec.upstream:
                tasks[up] >> tasks[spec.full_id]
        attach_run_cluster(env, [tasks[s.full_id] for s in specs if isinstance(s, SparkTask)])
        # after every task (not only the leaves: a gold model is upstream_failed while other
        # branches still run), whatever their outcome
        summary = RunSummaryOperator(task_id=SUMMARY_TASK_ID, cfg=cfg, trigger_rule="all_done", retries=0)
        list(tasks.values()) >> summary
    return dag


def build_all(directory: str) -> dict[str, DAG]:
    """Per pipeline file in ``directory``: its DAG, its maintenance DAG unless disabled, its DR DAG
    when a replica root is configured."""
    dags: dict[str, DAG] = {}
    for cfg in load_pipelines(directory):
        dags[cfg.dag_id] = build_dag(cfg)
        if cfg.maintenance.enabled:
            maintenance = build_maintenance_dag(cfg)
            dags[maintenance.dag_id] = maintenance
        if replica_root(cfg):
            dr = build_dr_dag(cfg)
            dags[dr.dag_id] = dr
    return dags
