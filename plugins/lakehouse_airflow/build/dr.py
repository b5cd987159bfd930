"""The disaster-recovery DAG of a pipeline (``<dag_id>_dr``, daily by default): a restore point of
every table, then its replication to the replica root with a read-back verification. Built only
when a replica root is configured (``dr.replica_root`` or ``$LAKEHOUSE_REPLICA_ROOT``); restore and
rebuild are operator decisions, taken with the CLI (``python -m lakehouse_airflow.dr``)."""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, TaskGroup

from lakehouse_airflow.build.factory import build_operator
from lakehouse_airflow.config.environments import current_environment
from lakehouse_airflow.config.pipeline import PipelineConfig
from lakehouse_airflow.describe.dr import GROUP, dr_dag_id, dr_specs, replica_root


def build_dr_dag(cfg: PipelineConfig) -> DAG:
    tz = pendulum.timezone(cfg.timezone)
    doc = (
        f"### {dr_dag_id(cfg)}\n\nDisaster recovery of `{cfg.dag_id}`: a restore point (the Delta version of "
        f"every table at one moment), replicated to `{replica_root(cfg)}` (only files not copied before) and "
        "verified read back from the copy. Restore / rebuild: `python -m lakehouse_airflow.dr --help`."
    )
    with DAG(
        dag_id=dr_dag_id(cfg),
        description=f"Restore point + replication of {cfg.dag_id}",
        schedule=CronTriggerTimetable(cfg.dr.schedule, timezone=tz),
        start_date=pendulum.datetime(cfg.start_date.year, cfg.start_date.month, cfg.start_date.day, tz=tz),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": cfg.owner,
            "retries": cfg.retries,
            "retry_delay": dt.timedelta(seconds=cfg.retry_delay_seconds),
        },
        tags=[*cfg.tags, "dr"],
        doc_md=doc,
    ) as dag:
        env = current_environment()
        with TaskGroup(group_id=GROUP, tooltip="restore point, then replicate + verify"):
            built = {spec.full_id: build_operator(spec, cfg, env) for spec in dr_specs(cfg)}
            for spec in dr_specs(cfg):
                for up in spec.upstream:
                    built[up] >> built[spec.full_id]
    return dag
