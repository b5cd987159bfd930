"""The disaster-recovery tasks of a pipeline (``<dag_id>_dr``, and the ``lakehouse_airflow.dr`` CLI):
one ``dr`` Spark job per action over every table of the pipeline (``spark_jobs/jobs/dr.py``)."""

from __future__ import annotations

import os

from lakehouse_airflow.config.pipeline import PipelineConfig
from lakehouse_airflow.describe.maintenance import maintenance_specs
from lakehouse_airflow.describe.pipeline import location, storage_conn
from lakehouse_airflow.describe.tasks import SparkTask
from lakehouse_airflow.paths import lakehouse_root
from lakehouse_contract.run import BASIC_RUN
from lakehouse_contract.specs import DrAction, DrSpec, MaintainSpec

GROUP = "dr"
REPLICA_ENV = "LAKEHOUSE_REPLICA_ROOT"


def dr_dag_id(cfg: PipelineConfig) -> str:
    return f"{cfg.dag_id}_dr"


def replica_root(cfg: PipelineConfig) -> str | None:
    """The configured replica root, else ``$LAKEHOUSE_REPLICA_ROOT``; None: no DR DAG."""
    value = cfg.dr.replica_root or os.environ.get(REPLICA_ENV, "").strip()
    return lakehouse_root(value) if value else None


def dr_tables(cfg: PipelineConfig) -> tuple[str, ...]:
    """Every table of the pipeline: bronze, silver, quarantine, gold and control tables (the
    maintenance DAG's lists, which cover them all)."""
    names: list[str] = []
    for task in maintenance_specs(cfg):
        assert isinstance(task.spec, MaintainSpec)
        names += task.spec.tables
    return tuple(dict.fromkeys(names))


def dr_task(cfg: PipelineConfig, action: DrAction, replica: str = "", point: str = "",
            upstream: tuple[str, ...] = ()) -> SparkTask:  # fmt: skip
    spec = DrSpec(dag_id=dr_dag_id(cfg), task_id=f"{GROUP}.{action}", table=action, location=location(cfg),
                  action=action, tables=dr_tables(cfg), replica_root=replica, restore_point=point)  # fmt: skip
    return SparkTask(group=GROUP, task_id=action, layer="maintenance", table=action, step="dr", spec=spec,
                     upstream=upstream, run_context=BASIC_RUN, storage_conn_id=storage_conn(cfg, replica))  # fmt: skip


def dr_specs(cfg: PipelineConfig) -> list[SparkTask]:
    """The scheduled DR: take a restore point, then replicate it and verify the copy."""
    replica = replica_root(cfg) or ""
    first = dr_task(cfg, "restore_point")
    return [first, dr_task(cfg, "replicate", replica, upstream=(first.full_id,))]
