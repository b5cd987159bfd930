"""The shape the pipeline's side DAGs share (maintenance, disaster recovery): a cron schedule in the
pipeline's timezone, no catch-up, one run at a time, the pipeline's owner and retries, one task
group of Spark tasks built through the same operator factory (so they run locally and on
Databricks alike), wired by their ``upstream``."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

import pendulum
from airflow.sdk import DAG, CronTriggerTimetable, TaskGroup

from lakehouse_airflow.build.factory import attach_run_cluster, build_operator, task_container
from lakehouse_airflow.config.environments import current_environment
from lakehouse_airflow.config.pipeline import PipelineConfig
from lakehouse_airflow.describe.tasks import SparkTask, TaskSpec


def build_side_dag(
    cfg: PipelineConfig,
    *,
    dag_id: str,
    description: str,
    schedule: str,
    tag: str,
    doc: str,
    group: str,
    tooltip: str,
    specs: Sequence[TaskSpec],
) -> DAG:
    tz = pendulum.timezone(cfg.timezone)
    with DAG(
        dag_id=dag_id,
        description=description,
        schedule=CronTriggerTimetable(schedule, timezone=tz),
        start_date=pendulum.datetime(cfg.start_date.year, cfg.start_date.month, cfg.start_date.day, tz=tz),
        catchup=False,
        max_active_runs=1,
        default_args={
            "owner": cfg.owner,
            "retries": cfg.retries,
            "retry_delay": dt.timedelta(seconds=cfg.retry_delay_seconds),
        },
        tags=[*cfg.tags, tag],
        doc_md=doc,
    ) as dag:
        env = current_environment(pipeline=cfg.dag_id)
        with task_container(env, cfg), TaskGroup(group_id=group, tooltip=tooltip):
            built = {spec.full_id: build_operator(spec, cfg, env) for spec in specs}
            for spec in specs:
                for up in spec.upstream:
                    built[up] >> built[spec.full_id]
        attach_run_cluster(env, [built[s.full_id] for s in specs if isinstance(s, SparkTask)])
    return dag
