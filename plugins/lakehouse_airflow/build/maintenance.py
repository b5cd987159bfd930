"""The Delta maintenance DAG of a pipeline (``<dag_id>_maintenance``, weekly by default).

One ``maintain`` Spark task per source table (its bronze, silver and quarantine tables, Z-ORDERed
by the table's ``zorder`` columns), one for the gold models and one for the control tables (audit
log, watermarks, DQ results, the maintenance log itself). Each OPTIMIZEs, then VACUUMs with the
configured retention (never below 168 hours) and records one row per table in
the maintenance log (``lakehouse_contract.naming``). Built through the same operator factory as the pipeline, so
it runs locally and on Databricks alike.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, TaskGroup

from lakehouse_airflow.build.factory import build_operator
from lakehouse_airflow.config.environments import current_environment
from lakehouse_airflow.config.pipeline import PipelineConfig
from lakehouse_airflow.describe.maintenance import GROUP, maintenance_dag_id, maintenance_specs
from lakehouse_contract import naming


def build_maintenance_dag(cfg: PipelineConfig) -> DAG:
    tz = pendulum.timezone(cfg.timezone)
    doc = (
        f"### {maintenance_dag_id(cfg)}\n\nDelta maintenance of `{cfg.dag_id}`'s tables: OPTIMIZE (Z-ORDER on "
        "each table's `zorder` columns), then VACUUM keeping "
        f"{cfg.maintenance.retention_hours} hours of history (never below 168). Results: "
        f"`{cfg.lakehouse.bronze_schema}.{naming.MAINTENANCE_LOG}`."
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
