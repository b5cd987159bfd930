"""The data interval a run gets, and the matching watermark window in the source's time zone."""

from __future__ import annotations

import datetime as dt
import threading

import pendulum

from lakehouse_airflow.config import PipelineConfig

_DAG_LOCK = threading.Lock()  # building a DAG uses Airflow's global DAG context: one thread at a time


def manual_interval(cfg: PipelineConfig, logical_date: str) -> tuple[pendulum.DateTime, pendulum.DateTime]:
    """The data interval ``airflow dags test <dag> <logical_date>`` (or a manual trigger for that
    date) gets: the DAG timetable's last complete interval before it."""
    from airflow.serialization.encoders import coerce_to_core_timetable  # what DAG.test() uses

    from lakehouse_airflow.build.dag import build_dag

    with _DAG_LOCK:
        timetable = coerce_to_core_timetable(build_dag(cfg).timetable)
    when = pendulum.instance(dt.datetime.fromisoformat(logical_date), tz="UTC")  # naive: UTC, as the CLI reads it
    interval = timetable.infer_manual_data_interval(run_after=when)
    return interval.start, interval.end


def source_window(cfg: PipelineConfig, logical_date: str) -> tuple[dt.datetime, dt.datetime]:
    """That interval as naive timestamps of the source's zone: what the run's incremental extract reads."""
    start, end = manual_interval(cfg, logical_date)
    zone = cfg.source_timezone()
    return start.in_tz(zone).naive(), end.in_tz(zone).naive()
