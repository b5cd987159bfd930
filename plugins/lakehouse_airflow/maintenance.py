"""The Delta maintenance DAG of a pipeline (``<dag_id>_maintenance``, weekly by default).

One ``maintain`` Spark task per source table (its bronze, silver and quarantine tables, Z-ORDERed
by the table's ``zorder`` columns), one for the gold models and one for the control tables (audit
log, watermarks, DQ results, the maintenance log itself). Each OPTIMIZEs, then VACUUMs with the
configured retention (never below 168 hours) and records one row per table in
``<bronze_schema>.bz_maintenance_log``. Built through the same operator factory as the pipeline, so
it runs locally and on Databricks alike.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, TaskGroup

from lakehouse_airflow.config import PipelineConfig, TableConfig
from lakehouse_airflow.environments import current_environment
from lakehouse_airflow.factory import build_operator
from lakehouse_airflow.specs import TaskSpec, run_args

GROUP = "maintenance"
LOG_TABLE = "bz_maintenance_log"  # spark_jobs/jobs/maintain.py writes it


def _table_names(cfg: PipelineConfig, table: TableConfig) -> list[str]:
    lh = cfg.lakehouse
    names = [f"{lh.bronze_schema}.bz_{table.name}"]
    if table.silver.enabled:
        names += [f"{lh.silver_schema}.{table.name}", f"{lh.silver_schema}.{table.name}_quarantine"]
    return names


def _spec(cfg: PipelineConfig, task_id: str, tables: list[str], zorder: tuple[str, ...] = ()) -> TaskSpec:
    args = [
        *run_args(cfg, f"{GROUP}.{task_id}", task_id),
        "--tables", ",".join(tables),
        "--zorder", ",".join(zorder),
        "--retention-hours", str(cfg.maintenance.retention_hours),
    ]  # fmt: skip
    return TaskSpec(GROUP, task_id, "spark", "maintain", tuple(args))


def maintenance_specs(cfg: PipelineConfig) -> list[TaskSpec]:
    """Per source table, then the gold models, then the control tables (independent tasks)."""
    lh = cfg.lakehouse
    specs = [_spec(cfg, t.name, _table_names(cfg, t), t.zorder) for t in cfg.ordered_tables()]
    if cfg.gold.models:
        specs.append(_spec(cfg, "gold_models", [f"{lh.gold_schema}.{m}" for m in cfg.gold.models]))
    control = [f"{lh.bronze_schema}.{lh.audit_table}", f"{lh.bronze_schema}.bz_watermarks",
               f"{lh.silver_schema}.dq_results", f"{lh.bronze_schema}.{LOG_TABLE}"]  # fmt: skip
    specs.append(_spec(cfg, "control_tables", control))
    return specs


def maintenance_dag_id(cfg: PipelineConfig) -> str:
    return f"{cfg.dag_id}_maintenance"


def build_maintenance_dag(cfg: PipelineConfig) -> DAG:
    tz = pendulum.timezone(cfg.timezone)
    doc = (
        f"### {maintenance_dag_id(cfg)}\n\nDelta maintenance of `{cfg.dag_id}`'s tables: OPTIMIZE (Z-ORDER on "
        "each table's `zorder` columns), then VACUUM keeping "
        f"{cfg.maintenance.retention_hours} hours of history (never below 168). Results: "
        f"`{cfg.lakehouse.bronze_schema}.{LOG_TABLE}`."
    )
    with DAG(
        dag_id=maintenance_dag_id(cfg),
        description=f"Weekly Delta maintenance of {cfg.dag_id}",
        schedule=CronTriggerTimetable(cfg.maintenance.schedule, timezone=tz),
        start_date=pendulum.datetime(cfg.start_date.year, cfg.start_date.month, cfg.start_date.day, tz=tz),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": cfg.owner,
            "retries": cfg.retries,
            "retry_delay": dt.timedelta(seconds=cfg.retry_delay_seconds),
        },
        tags=[*cfg.tags, "maintenance"],
        doc_md=doc,
    ) as dag:
        env = current_environment()
        with TaskGroup(group_id=GROUP, tooltip="OPTIMIZE + Z-ORDER, VACUUM with the retention guard"):
            for spec in maintenance_specs(cfg):
                build_operator(spec, cfg, env)
    return dag
