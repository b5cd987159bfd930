"""Typed task descriptions: what the DAG builder, the monitor catalogue, the job export and the
in-process test runner read (pure data, no Airflow objects).

Two kinds: a :class:`SourceCheckTask` runs the source checks in the Airflow worker; a
:class:`SparkTask` runs one Spark job with its typed spec (``lakehouse_contract.specs``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from lakehouse_contract.run import TABLE_RUN, run_flags
from lakehouse_contract.specs import SPEC_FLAG, JobSpec, ValidateSpec

Layer = Literal["bronze", "silver", "gold", "maintenance"]
TriggerRule = Literal["all_success", "all_done", "none_failed"]


@dataclass(frozen=True, kw_only=True)
class Task:
    group: str  # the task group (a source table, the silver or gold schema, maintenance)
    task_id: str  # the task's id inside its group (a verb, a silver table, a gold model)
    layer: Layer
    table: str  # the source table, silver table, gold model or maintenance group it serves
    step: str  # validate_connection | extract | write_bronze | audit | silver | gold | maintain
    upstream: tuple[str, ...] = ()  # full task ids
    trigger_rule: TriggerRule = "all_success"
    retries: int | None = None  # None: the DAG's (or the Databricks environment's) retries
    tables: tuple[str, ...] = ()  # the source tables it serves: it skips itself when a run selects none
    priority_weight: int = 1

    @property
    def full_id(self) -> str:
        return f"{self.group}.{self.task_id}"


@dataclass(frozen=True, kw_only=True)
class SourceCheckTask(Task):
    """``validate_connection``: the source checks, run in the Airflow worker through the connection."""

    check: ValidateSpec  # also a Spark job's spec: the native Databricks job has no Airflow worker
    conn_id: str


@dataclass(frozen=True, kw_only=True)
class SparkTask(Task):
    spec: JobSpec
    source_conn_id: str | None = None  # connection whose JDBC secret the job needs (by reference)
    pii_key_conn_id: str | None = None  # connection whose password is the PII hashing key
    storage_conn_id: str | None = None  # `aws` connection of an object-store lakehouse root
    upstream_chain: tuple[str, ...] = ()  # audit: the group's earlier steps, first first (their states)
    upstream_error_of: str | None = None  # audit: the task whose XCom ``error`` it reports
    run_context: tuple[str, ...] = TABLE_RUN  # the run flags its DAG renders (lakehouse_contract.run)

    @property
    def job(self) -> str:
        return self.spec.job

    def argv(self) -> list[str]:
        """The job's command line: job name, spec document, templated run context."""
        return [self.spec.job, SPEC_FLAG, self.spec.to_json(), *run_flags(self.upstream_error_of, self.run_context)]


TaskSpec = SourceCheckTask | SparkTask


def job_spec(task: TaskSpec) -> JobSpec:
    """The Spark job spec a task runs (the source check's own job where no Airflow worker runs it)."""
    return task.check if isinstance(task, SourceCheckTask) else task.spec
