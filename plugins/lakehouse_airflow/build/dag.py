"""Pipeline config -> Airflow DAG: one task group per source table, in configured priority."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, BaseOperator, CronDataIntervalTimetable, TaskGroup

from lakehouse_airflow.build.dr import build_dr_dag
from lakehouse_airflow.build.factory import attach_run_cluster, build_operator, task_container
from lakehouse_airflow.build.maintenance import build_maintenance_dag
from lakehouse_airflow.build.params import dag_params
from lakehouse_airflow.config.environments import Environment, current_environment
from lakehouse_airflow.config.pipeline import PipelineConfig, TableConfig, load_pipelines
from lakehouse_airflow.config.sources import FileSourceConfig
from lakehouse_airflow.describe.dr import replica_root
from lakehouse_airflow.describe.parts import DagPart, Wait, dag_parts
from lakehouse_airflow.describe.pipeline import source_label
from lakehouse_airflow.describe.tasks import SparkTask, TaskSpec
from lakehouse_airflow.monitor.alerts import FailureNotifier
from lakehouse_airflow.operators.assets import table_assets
from lakehouse_airflow.operators.caught_up import CaughtUpSensor
from lakehouse_airflow.operators.cdc_slots import CHECK_TASK_ID, CdcSlotCheckOperator
from lakehouse_airflow.operators.summary import SUMMARY_TASK_ID, RunSummaryOperator
from lakehouse_airflow.paths import files_root


def _source_doc(cfg: PipelineConfig) -> str:
    if isinstance(cfg.source, FileSourceConfig):
        return f"File source `{cfg.source.system}` (files under `{files_root(cfg.source.root, cfg.source.system)}`)"
    return f"Source connection `{cfg.source.conn_id}` (database `{cfg.source.database}`)"


def _doc(cfg: PipelineConfig, part: DagPart) -> str:
    rows = "\n".join(
        f"| {t.priority} | `{t.name}` | `{source_label(cfg, t)}` | {_mode(t)} | "
        f"{', '.join(t.primary_key)} | {', '.join(t.pii) or '-'} |"
        for t in cfg.ordered_tables()
        if t.name in part.tables
    )
    return (
        f"### {part.dag_id}\n\n{cfg.description}\n\n"
        f"{_source_doc(cfg)}, bronze schema "
        f"`{cfg.lakehouse.bronze_schema}`, audit table `{cfg.lakehouse.audit_table}`.\n\n"
        "| priority | table | source | mode | primary key | PII |\n|---|---|---|---|---|---|\n"
        + rows
        + f"\n\nSilver: `{cfg.lakehouse.silver_schema}` (expectations in the pipeline file). "
        + {
            "cdc": f"Changes are read every `{cfg.cdc.schedule}`; gold is built by `{cfg.dag_id}`.",
            "hourly": f"An hourly slice every `{cfg.hourly.schedule}`; silver and gold are built by `{cfg.dag_id}`.",
        }.get(
            part.cadence,
            f"Gold: `{cfg.lakehouse.gold_schema}` models " + ", ".join(f"`{m}`" for m in cfg.gold.models) + ".",
        )
    )


def _mode(table: TableConfig) -> str:
    if table.files is not None:
        return f"new {table.files.format} files per date (manifest; modified: {table.files.on_modified})"
    if table.cadence == "cdc":
        return "change data capture (logical replication slot)"
    if table.cadence == "hourly":
        return f"hourly slices on `{table.watermark_column}` (deletes: {table.delete_detection})"
    if table.load_mode == "incremental":
        return f"incremental on `{table.watermark_column}` (deletes: {table.delete_detection})"
    return "full"


TOOLTIPS = {
    "bronze": "the hourly tables' bronze, loaded by the pipeline's hourly DAG",
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


def _schedule(
    cfg: PipelineConfig, env: Environment, part: DagPart, tz: pendulum.Timezone
) -> CronDataIntervalTimetable | None:
    cron = {"cdc": cfg.cdc.schedule, "hourly": cfg.hourly.schedule}.get(part.cadence) or env.schedule_for(cfg.schedule)
    return CronDataIntervalTimetable(cron, timezone=tz) if cron else None


def _wait(wait: Wait) -> CaughtUpSensor:
    """The main DAG's stand-in for the other DAG's tasks it reads: their commits' assets."""
    return CaughtUpSensor(
        task_id=wait.task.split(".", 1)[1], assets=[a for s in wait.committers for a in table_assets(s)],
        source_dag_id=wait.dag_id, lakehouse_tables=wait.tables, timeout=wait.minutes * 60, poke_interval=60,
        retries=0,
    )  # fmt: skip


def _build_tasks(cfg: PipelineConfig, env: Environment, part: DagPart) -> dict[str, BaseOperator]:
    """The part's tasks in their groups, with their dependencies (full task id -> operator)."""
    specs = part.specs
    groups: dict[str, TaskGroup] = {}
    tasks: dict[str, BaseOperator] = {}
    width = len(str(len(cfg.tables)))
    waits = {w.task: w for w in part.waits}
    with task_container(env, cfg, ", ".join(waits)):  # compute: workflow -> one Databricks job run per DAG run
        for spec in specs:
            if spec.group not in groups:
                groups[spec.group] = _task_group(spec, len(groups) + 1, width)
            with groups[spec.group]:
                task_id = spec.full_id if spec.layer == "bronze" else spec.task_id
                tasks[spec.full_id] = build_operator(spec, cfg, env, task_id=task_id)
        for spec in specs:
            for up in spec.upstream:
                if up not in waits:  # made below, outside a workflow's job
                    tasks[up] >> tasks[spec.full_id]
    for wait in part.waits:
        group = wait.task.split(".", 1)[0]
        if group not in groups:
            groups[group] = TaskGroup(group_id=group, tooltip=TOOLTIPS.get(wait.layer, group))
        with groups[group]:
            tasks[wait.task] = _wait(wait)
        for spec in specs:
            if wait.task in spec.upstream:
                tasks[wait.task] >> tasks[spec.full_id]
    return tasks


def build_dag(cfg: PipelineConfig, part: DagPart | None = None) -> DAG:
    """The DAG of one part of the pipeline (default: the main one; see ``describe.parts``)."""
    part = part or dag_parts(cfg)[0]
    env = current_environment(pipeline=cfg.dag_id)
    tz = pendulum.timezone(cfg.timezone)
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
        dag_id=part.dag_id,
        description=cfg.description or None,
        schedule=_schedule(cfg, env, part, tz),
        start_date=pendulum.datetime(cfg.start_date.year, cfg.start_date.month, cfg.start_date.day, tz=tz),
        catchup=cfg.catchup and part.cadence != "cdc",  # a CDC run reads everything since the last one
        # one CDC run at a time (each reads from the slot's position); hourly: one hour's slice at a time,
        # in order, so each reads from the mark the hour before committed
        max_active_runs=1 if part.cadence in ("cdc", "hourly") else cfg.max_active_runs,
        default_args=default_args,
        tags=[*cfg.tags, *([part.cadence] if part.cadence != "daily" else [])],
        doc_md=_doc(cfg, part),
        params=dag_params(cfg, part.tables),
    ) as dag:
        specs = part.specs
        tasks = _build_tasks(cfg, env, part)
        attach_run_cluster(env, [tasks[s.full_id] for s in specs if isinstance(s, SparkTask)])
        if part.cadence == "cdc":  # the slots, whatever the tables' runs did
            check = CdcSlotCheckOperator(task_id=CHECK_TASK_ID, cfg=cfg, trigger_rule="all_done", retries=0)
            list(tasks.values()) >> check
            tasks[CHECK_TASK_ID] = check
        # after every task (not only the leaves: a gold model is upstream_failed while other
        # branches still run), whatever their outcome
        summary = RunSummaryOperator(task_id=SUMMARY_TASK_ID, cfg=cfg, trigger_rule="all_done", retries=0)
        list(tasks.values()) >> summary
    return dag


def build_all(directory: str) -> dict[str, DAG]:
    """Per pipeline file in ``directory``: its DAG (and its CDC / hourly DAG when tables have
    ``cadence: cdc`` / ``hourly``), its maintenance DAG unless disabled, its DR DAG when a replica
    root is configured."""
    dags: dict[str, DAG] = {}
    for cfg in load_pipelines(directory):
        for part in dag_parts(cfg):  # the main DAG, <dag_id>_cdc and <dag_id>_hourly when tables have them
            dags[part.dag_id] = build_dag(cfg, part)
        if cfg.maintenance.enabled:
            maintenance = build_maintenance_dag(cfg)
            dags[maintenance.dag_id] = maintenance
        if replica_root(cfg):
            dr = build_dr_dag(cfg)
            dags[dr.dag_id] = dr
    return dags
