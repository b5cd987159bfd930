"""Restore points in the ETL monitor.

A DR step (a task of the ``<dag_id>_dr`` DAG, or ``python -m lakehouse_airflow.dr``) writes its step
result into the lakehouse; after it succeeds, :func:`record_dr_step` reads that result, and for a new
point the point itself (``_control/restore_points/<id>.json``, the one source of its versions), and
records it in the pipeline's monitor: the point when it is taken, the replica once a copy of it is
verified, the time of the last restore to it. ``lakehouse_restore_point_age_seconds`` on ``/metrics``
(the data age a restore would bring back, RPO) is read from here.
"""

from __future__ import annotations

import json
from typing import Any

from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.lake_files import read_text
from lakehouse_airflow.monitor.store import MonitorStore
from lakehouse_airflow.paths import lakehouse_root
from lakehouse_contract.layout import restore_point_path, step_result_path
from lakehouse_contract.results import StepResult

RECORDED = ("restore_point", "replicate", "restore", "rebuild")  # the DR actions the monitor records


def dr_step_metrics(cfg: PipelineConfig, root: str, dag_id: str, run_id: str, action: str) -> dict[str, Any] | None:
    """The metrics of a successful DR step of this run (None: no such result, or it did not succeed)."""
    text = read_text(cfg.lakehouse.storage_conn_id, step_result_path(root, dag_id, run_id, action, "dr"))
    if text is None:
        return None
    result = StepResult.from_json(text)
    return dict(result.metrics) if result.run_id == run_id and result.status == "SUCCESS" else None


def record(
    store: MonitorStore, cfg: PipelineConfig, root: str, taken_by: str, action: str, metrics: dict[str, Any]
) -> bool:
    """Record what a successful DR step on the lakehouse at ``root`` did; False: nothing to record."""
    point_id = str(metrics.get("restore_point") or "")
    if action not in RECORDED or not point_id:
        return False
    if action == "restore_point":
        text = read_text(cfg.lakehouse.storage_conn_id, restore_point_path(root, point_id))
        if text is None:
            raise FileNotFoundError(f"restore point {point_id} reported but not found under {root}")
        point = json.loads(text)
        store.add_restore_point(cfg.dag_id, point["id"], point["taken_at"], point["root"], point["versions"], taken_by)
        return True
    if action == "replicate":
        return store.restore_point_replicated(
            cfg.dag_id, point_id, str(metrics.get("replica_root") or ""), int(metrics.get("rows_verified") or 0)
        )
    return store.restore_point_restored(cfg.dag_id, point_id)  # restore, or rebuild from the replica


def record_dr_step(
    store: MonitorStore, cfg: PipelineConfig, dag_id: str, run_id: str, action: str, root: str | None = None
) -> bool:
    """Read the step's result and record it (False: nothing to record). ``root``: the lakehouse the
    step ran on, default the pipeline's."""
    where = root or lakehouse_root(cfg.lakehouse.root)
    metrics = dr_step_metrics(cfg, where, dag_id, run_id, action)
    return metrics is not None and record(store, cfg, where, f"{dag_id}/{run_id}", action, metrics)
