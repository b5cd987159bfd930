"""The disaster-recovery DAG of a pipeline (``<dag_id>_dr``, daily by default): a restore point of
every table, then its replication to the replica root with a read-back verification. Built only
when a replica root is configured (``dr.replica_root`` or ``$LAKEHOUSE_REPLICA_ROOT``); restore and
rebuild are operator decisions, taken with the CLI (``python -m lakehouse_airflow.dr``)."""

from __future__ import annotations

from airflow.sdk import DAG

from lakehouse_airflow.build.side_dag import build_side_dag
from lakehouse_airflow.config.pipeline import PipelineConfig
from lakehouse_airflow.describe.dr import GROUP, dr_dag_id, dr_specs, replica_root


def build_dr_dag(cfg: PipelineConfig) -> DAG:
    doc = (
        f"### {dr_dag_id(cfg)}\n\nDisaster recovery of `{cfg.dag_id}`: a restore point (the Delta version of "
        f"every table at one moment), replicated to `{replica_root(cfg)}` (only files not copied before) and "
        "verified read back from the copy. Restore / rebuild: `python -m lakehouse_airflow.dr --help`."
    )
    return build_side_dag(
        cfg, dag_id=dr_dag_id(cfg), description=f"Restore point + replication of {cfg.dag_id}",
        schedule=cfg.dr.schedule, tag="dr", doc=doc, group=GROUP, tooltip="restore point, then replicate + verify",
        specs=dr_specs(cfg),
    )  # fmt: skip
