"""Which pipelines the monitor tracks and where their monitor lives."""

from __future__ import annotations

import functools

from lakehouse_airflow.config import PipelineConfig, load_pipelines
from lakehouse_airflow.maintenance import maintenance_dag_id
from lakehouse_airflow.monitor.store import MonitorStore
from lakehouse_airflow.paths import PIPELINES_DIR


@functools.cache
def pipelines() -> dict[str, PipelineConfig]:
    """Pipelines with ``monitor.enabled`` by DAG id, their maintenance DAGs too (read once per process)."""
    found: dict[str, PipelineConfig] = {}
    for cfg in load_pipelines(PIPELINES_DIR):
        if cfg.monitor.enabled:
            found[cfg.dag_id] = cfg
            if cfg.maintenance.enabled:
                found[maintenance_dag_id(cfg)] = cfg
    return found


def tracked(dag_id: str) -> tuple[PipelineConfig, MonitorStore] | None:
    """The pipeline and its (set-up) monitor store, or None when the DAG is not tracked."""
    cfg = pipelines().get(dag_id)
    if cfg is None:
        return None
    store = MonitorStore(cfg.monitor.conn_id, cfg.monitor.schema_name)
    store.setup()
    return cfg, store


def monitor_stores() -> list[MonitorStore]:
    """Each distinct monitor (connection, schema) of the tracked pipelines, set up."""
    seen = {(cfg.monitor.conn_id, cfg.monitor.schema_name) for cfg in pipelines().values()}
    stores = [MonitorStore(conn_id, schema) for conn_id, schema in sorted(seen)]
    for store in stores:
        store.setup()
    return stores
