"""Airflow listener feeding the ETL monitor: no change to how tasks are triggered.

Run events arrive in the scheduler (or ``airflow dags test``), task events in the task's own
process. Only DAGs built from a pipeline file with ``monitor.enabled`` are tracked. A monitor
outage never fails a task: Airflow logs listener errors and carries on, and so does this module.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
import os
from typing import Any

from airflow.listeners import hookimpl

from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.config.environments import ENV_VAR, ENVIRONMENTS_FILE_VAR, current_environment
from lakehouse_airflow.lake_files import read_text
from lakehouse_airflow.monitor.alerts import deadline_alert, redact_text
from lakehouse_airflow.monitor.catalogue import CatalogueTask, catalogue
from lakehouse_airflow.monitor.monitored import dr_tracked, tracked
from lakehouse_airflow.monitor.restore_points import record_dr_step
from lakehouse_airflow.monitor.store import MonitorStore, RunInfo, processing_mode
from lakehouse_airflow.paths import lakehouse_root
from lakehouse_contract.layout import step_result_path
from lakehouse_contract.results import StepResult

log = logging.getLogger(__name__)
MESSAGE_LIMIT = 2000


def _date(value: Any) -> dt.date:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).date()  # as {{ ds }}: the jobs' --logical-date
    if isinstance(value, dt.date):
        return value
    return dt.datetime.now(dt.UTC).date()


def run_info(dag_run: Any, mode: str | None = None) -> RunInfo:
    """The monitor's view of an Airflow DagRun (the scheduler's model or the task SDK's)."""
    conf = getattr(dag_run, "conf", None)
    mode = mode or ((conf or {}).get("mode") if isinstance(conf, dict) else None)
    kind = getattr(dag_run.run_type, "value", dag_run.run_type)
    run_after = getattr(dag_run, "run_after", None)
    start, end = getattr(dag_run, "data_interval_start", None), getattr(dag_run, "data_interval_end", None)
    interval = (start, end) if isinstance(start, dt.datetime) and isinstance(end, dt.datetime) else None
    due = run_after if isinstance(run_after, dt.datetime) else None
    return RunInfo(
        dag_run.dag_id, dag_run.run_id, _date(dag_run.logical_date or run_after),
        processing_mode(kind, mode, interval, due), kind,
    )  # fmt: skip


def _run_of_task(ti: Any) -> RunInfo:
    context = ti.get_template_context()
    return run_info(context["dag_run"], (context.get("params") or {}).get("mode"))


_catalogues: dict[str, dict[str, CatalogueTask]] = {}  # by DAG id: built once per process


def _catalogue(cfg: PipelineConfig, dag_id: str) -> dict[str, CatalogueTask]:
    if dag_id not in _catalogues:
        _catalogues[dag_id] = {t.task_id: t for t in catalogue(cfg, dag_id)}
    return _catalogues[dag_id]


def step_metrics(cfg: PipelineConfig, dag_id: str, run_id: str, task_id: str) -> dict[str, Any]:
    """Rows, DQ score and error of the task's job, from the step result it wrote (the layout of
    lakehouse_contract.layout, on this machine or in the object store). Empty when there is none."""
    entry = _catalogue(cfg, dag_id).get(task_id)
    if entry is None or entry.step is None:
        return {}
    root = lakehouse_root(cfg.lakehouse.root)
    text = read_text(
        cfg.lakehouse.storage_conn_id, step_result_path(root, dag_id, run_id, entry.table_name, entry.step)
    )
    try:
        result = StepResult.from_json(text) if text is not None else None
    except (ValueError, TypeError):
        return {}
    if result is None or result.run_id != run_id:
        return {}
    metrics: dict[str, Any] = dict(result.metrics)
    if result.error:
        metrics["error"] = result.error
    return metrics


def _message(error: Any, metrics: dict[str, Any]) -> str | None:
    text = metrics.get("error") or (f"{type(error).__name__}: {error}" if error else None)
    return redact_text(str(text))[:MESSAGE_LIMIT] if text else None


def _result_note(metrics: dict[str, Any]) -> str | None:
    """What a successful maintenance step did (its rows columns stay empty)."""
    if "files_before" not in metrics:
        return None
    return f"{metrics.get('tables')} tables, files {metrics['files_before']} -> {metrics.get('files_after')}"


def _guard(event: str):
    def wrap(fn):
        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> None:
            try:
                fn(*args, **kwargs)
            except Exception:  # the monitor must never fail the pipeline
                log.warning("etl monitor: %s not recorded", event, exc_info=True)

        return inner

    return wrap


_registered: set[str] = set()  # DAGs whose catalogue this process has registered


def _start(cfg: PipelineConfig, store: MonitorStore, run: RunInfo, restart: bool = False) -> None:
    if run.dag_id not in _registered:
        store.register(cfg, run.dag_id)
        _registered.add(run.dag_id)
    store.start_run(run, restart=restart)


# -- run events (scheduler / dags test) -------------------------------------------------------------


@hookimpl
@_guard("dag run running")
def on_dag_run_running(dag_run: Any, msg: str) -> None:
    found = tracked(dag_run.dag_id)
    if found:
        cfg, store = found
        _start(cfg, store, run_info(dag_run), restart=True)
        store.receipt((dag_run.dag_id, dag_run.run_id), None, None, "dag_run_running", "running", msg)


@functools.lru_cache(maxsize=8)
def _deadline_minutes(env_name: str, env_file: str, dag_id: str) -> int | None:
    """The pipeline's run deadline in the environment; the file is read once per (environment, file,
    pipeline) per process."""
    return current_environment(pipeline=dag_id).run_deadline_minutes


def check_deadline(cfg: PipelineConfig, store: MonitorStore, dag_id: str, run_id: str) -> bool:
    """The environment's run deadline, checked at every event of the run: the first event after
    it marks the run in the monitor, adds a receipt and alerts (once)."""
    minutes = _deadline_minutes(os.environ.get(ENV_VAR, ""), os.environ.get(ENVIRONMENTS_FILE_VAR, ""), dag_id)
    if minutes is None or not store.breach_deadline(dag_id, run_id, minutes):
        return False
    store.receipt((dag_id, run_id), None, None, "deadline_missed", None, f"running over {minutes} min")
    deadline_alert(cfg.alerts.model_dump(), dag_id, run_id, minutes)
    return True


def _run_ended(dag_run: Any, state: str, msg: str) -> None:
    found = tracked(dag_run.dag_id)
    if found:
        cfg, store = found
        store.finish_run(dag_run.dag_id, dag_run.run_id, state)
        store.receipt((dag_run.dag_id, dag_run.run_id), None, None, f"dag_run_{state.lower()}", state.lower(), msg)
        check_deadline(cfg, store, dag_run.dag_id, dag_run.run_id)


@hookimpl
@_guard("dag run success")
def on_dag_run_success(dag_run: Any, msg: str) -> None:
    _run_ended(dag_run, "SUCCESS", msg)


@hookimpl
@_guard("dag run failed")
def on_dag_run_failed(dag_run: Any, msg: str) -> None:
    _run_ended(dag_run, "FAILED", msg)


# -- task events (the task's process) ----------------------------------------------------------------


@hookimpl
@_guard("task running")
def on_task_instance_running(previous_state: Any, task_instance: Any) -> None:
    ti = task_instance
    found = tracked(ti.dag_id)
    if found:
        cfg, store = found
        _start(cfg, store, _run_of_task(ti))  # the run's rows exist even when no run event was seen
        started = getattr(ti, "start_date", None) or dt.datetime.now(dt.UTC)
        status = store.task_started((ti.dag_id, ti.run_id), ti.task_id, ti.try_number, started)
        store.receipt((ti.dag_id, ti.run_id), ti.task_id, ti.try_number, "task_running", "running", None, status)
        check_deadline(cfg, store, ti.dag_id, ti.run_id)


def _task_ended(ti: Any, status: str, state: str, error: Any = None) -> None:
    found = tracked(ti.dag_id)
    if found:
        cfg, store = found
        metrics = step_metrics(cfg, ti.dag_id, ti.run_id, ti.task_id)
        message = _message(error, metrics) if status == "FAIL" else _result_note(metrics)
        after = store.task_ended((ti.dag_id, ti.run_id), ti.task_id, ti.try_number, status, message, metrics)
        store.receipt((ti.dag_id, ti.run_id), ti.task_id, ti.try_number, f"task_{state}", state, message, after)
        check_deadline(cfg, store, ti.dag_id, ti.run_id)


@hookimpl
@_guard("task success")
def on_task_instance_success(previous_state: Any, task_instance: Any) -> None:
    _task_ended(task_instance, "DONE", "success")
    dr = dr_tracked(task_instance.dag_id)
    if dr:  # a DR step: its restore point, replica or restore, in the pipeline's monitor
        cfg, store = dr
        record_dr_step(store, cfg, task_instance.dag_id, task_instance.run_id, task_instance.task_id.rsplit(".", 1)[-1])


@hookimpl
@_guard("task failed")
def on_task_instance_failed(previous_state: Any, task_instance: Any, error: Any = None) -> None:
    state = getattr(task_instance, "state", None)
    _task_ended(task_instance, "FAIL", str(getattr(state, "value", state) or "failed"), error)


@hookimpl
@_guard("task skipped")
def on_task_instance_skipped(previous_state: Any, task_instance: Any) -> None:
    _task_ended(task_instance, "SKIP", "skipped")
