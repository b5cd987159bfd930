"""Which pipelines the monitor tracks and where their monitor lives."""

from __future__ import annotations

import functools
import logging
import os

from lakehouse_airflow.config import PipelineConfig, load_pipelines
from lakehouse_airflow.describe.dr import dr_dag_id
from lakehouse_airflow.describe.maintenance import maintenance_dag_id
from lakehouse_airflow.describe.parts import cdc_dag_id, hourly_dag_id
from lakehouse_airflow.monitor.store import MonitorStore
from lakehouse_airflow.paths import PIPELINES_DIR

log = logging.getLogger(__name__)
_unavailable: set[tuple[str, str]] = set()  # monitors this process could not reach (warned once)


@functools.cache
def pipelines() -> dict[str, PipelineConfig]:
    """Pipelines with ``monitor.enabled`` by DAG id, their CDC, hourly and maintenance DAGs too (read once
    per process)."""
    found: dict[str, PipelineConfig] = {}
    for cfg in load_pipelines(PIPELINES_DIR):
        if cfg.monitor.enabled:
            found[cfg.dag_id] = cfg
            if cfg.cdc_tables():
                found[cdc_dag_id(cfg)] = cfg
            if cfg.hourly_tables():
                found[hourly_dag_id(cfg)] = cfg
            if cfg.maintenance.enabled:
                found[maintenance_dag_id(cfg)] = cfg
    return found


def tracked(dag_id: str) -> tuple[PipelineConfig, MonitorStore] | None:
    """The pipeline and its (set-up) monitor store, or None when the DAG is not tracked.

    `airflow tasks test` (which sets AIRFLOW_TEST_MODE) is never tracked: Airflow documents it as
    not recording state, and it may run inside a real run, whose monitor history must stay as it was."""
    return _with_store(pipelines().get(dag_id))


def _with_store(cfg: PipelineConfig | None) -> tuple[PipelineConfig, MonitorStore] | None:
    if cfg is None or os.environ.get("AIRFLOW_TEST_MODE"):
        return None
    store = _ready((cfg.monitor.conn_id, cfg.monitor.schema_name))
    return None if store is None else (cfg, store)


@functools.cache
def dr_pipelines() -> dict[str, PipelineConfig]:
    """Pipelines with ``monitor.enabled`` by the DAG id of their DR DAG (its restore points are
    recorded: monitor/restore_points.py; its runs are not tracked as a process)."""
    return {dr_dag_id(cfg): cfg for cfg in pipelines().values()}  # the same parse; maintenance ids map to it too


def dr_tracked(dag_id: str) -> tuple[PipelineConfig, MonitorStore] | None:
    """The pipeline whose DR DAG this is and its monitor (None: not a DR DAG, or `tasks test`)."""
    return _with_store(dr_pipelines().get(dag_id))


def _ready(key: tuple[str, str]) -> MonitorStore | None:
    """The monitor, set up; None (warned once per process) when it cannot be reached."""
    if key in _unavailable:
        return None
    store = MonitorStore(*key)
    try:
        store.setup()
    except Exception as exc:  # no connection defined, database down: the pipeline runs untracked
        _unavailable.add(key)
        log.warning("ETL monitor %s.%s unavailable, runs are not tracked: %s", *key, exc)
        return None
    return store


def monitor_stores() -> list[MonitorStore]:
    """Each distinct reachable monitor (connection, schema) of the tracked pipelines, set up."""
    seen = {(cfg.monitor.conn_id, cfg.monitor.schema_name) for cfg in pipelines().values()}
    return [store for store in map(_ready, sorted(seen)) if store is not None]
