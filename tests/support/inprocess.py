"""Run a pipeline's Spark tasks in this process, exactly as the DAG would call them.

Same task specs (``pipeline_specs``), same argument lists rendered with the same Jinja variables
Airflow supplies (``ds``, ``run_id``, ``data_interval_*`` from the DAG's own timetable,
``params``), same selection rule (``params.tables``), same secrets by reference -- only the
process boundary is gone: every job runs through ``spark_jobs.jobs.dispatch`` against the shared
Spark Connect server. That makes dozens of runs affordable in the test suite; the Airflow side
(operators, params, trigger rules, retries) is exercised by the ``airflow dags test`` suites.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path

import jinja2
import pendulum

from lakehouse_airflow.build.intervals import manual_interval
from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.config.sources import SourceConfig
from lakehouse_airflow.describe.pipeline import pipeline_specs
from lakehouse_airflow.describe.tasks import SparkTask, TaskSpec
from lakehouse_airflow.operators.secrets import jdbc_env, pii_key_env
from lakehouse_contract.run import UPSTREAM_STATES
from spark_jobs.jobs import dispatch


@dataclass(frozen=True)
class Run:
    logical_date: str  # what `airflow dags test <dag> <logical_date>` is given
    run_id: str
    tables: tuple[str, ...] = ()
    mode: str = "incremental"

    def interval(self, cfg: PipelineConfig) -> tuple[pendulum.DateTime, pendulum.DateTime]:
        """The data interval `airflow dags test` gives this logical date (the DAG's timetable)."""
        return manual_interval(cfg, self.logical_date)


class JobFailed(AssertionError):
    pass


def selected(spec: TaskSpec, tables: Iterable[str]) -> bool:
    chosen = set(tables)
    return not chosen or not spec.tables or bool(chosen & set(spec.tables))


def task_args(cfg: PipelineConfig, spec: SparkTask, run: Run, lake: Path, try_number: int = 1) -> list[str]:
    start, end = run.interval(cfg)
    context = {
        "dag": {"dag_id": cfg.dag_id},
        "run_id": run.run_id,
        "ds": pendulum.parse(run.logical_date).to_date_string(),
        "data_interval_start": start,
        "data_interval_end": end,
        "params": {"tables": list(run.tables), "mode": run.mode},
        "ti": {"try_number": try_number, "xcom_pull": lambda **_: ""},
    }
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    moved = replace(spec, spec=spec.spec.relocated(replace(spec.spec.location, root=str(lake))))
    args = [env.from_string(a).render(context) for a in moved.argv()]
    if spec.upstream_chain:  # earlier steps succeeded, or run_pipeline stopped already
        args += [UPSTREAM_STATES, ",".join(f"{u.rsplit('.', 1)[-1]}=success" for u in spec.upstream_chain)]
    return args


def run_task(cfg: PipelineConfig, spec: SparkTask, run: Run, lake: Path, try_number: int = 1) -> None:
    # what the operator hands its job at execute time, from the same Airflow connections
    jdbc = jdbc_env(cfg.source.conn_id) if isinstance(cfg.source, SourceConfig) else {}
    os.environ.update({**jdbc, **(pii_key_env(cfg.privacy.key_conn_id) if spec.pii_key_conn_id else {})})
    code = dispatch(task_args(cfg, spec, run, lake, try_number))
    if code != 0:
        raise JobFailed(f"{spec.full_id} exited {code}")


def spark_specs(
    cfg: PipelineConfig, run: Run, layers: tuple[str, ...] = ("bronze", "silver", "gold")
) -> list[SparkTask]:
    """The run's Spark tasks in an order the DAG allows (upstream first), selection applied."""
    pending = [
        s for s in pipeline_specs(cfg) if isinstance(s, SparkTask) and selected(s, run.tables) and s.layer in layers
    ]
    wanted, done, ordered = {s.full_id for s in pending}, set(), []
    while pending:
        ready = next(s for s in pending if all(u in done or u not in wanted for u in s.upstream))
        pending.remove(ready)
        done.add(ready.full_id)
        ordered.append(ready)
    return ordered


def run_pipeline(
    cfg: PipelineConfig, run: Run, lake: Path, layers: tuple[str, ...] = ("bronze", "silver", "gold")
) -> None:
    for spec in spark_specs(cfg, run, layers):
        try:
            run_task(cfg, spec, run, lake)
        except Exception as exc:
            raise JobFailed(f"{spec.full_id} failed for {run.run_id}: {exc}") from exc
