"""``compute: workflow``: one Databricks job run per DAG run, through the provider's
``DatabricksWorkflowTaskGroup``.

The group's ``launch`` task creates (or resets) the job ``<dag_id>.databricks_job`` from the DAG's
Spark tasks -- each Airflow task one Databricks task, the DAG's dependencies as ``depends_on``, its
trigger rules as ``run_if``, every task on one shared job cluster -- and starts one run of it; each
Airflow task then follows its Databricks task, so the grid keeps its task ids, groups and states.

What this module adds to the provider's group:

* **the run context rendered at launch**: the job's parameters are fixed when the run starts, so the
  launch renders each task's templated run flags (run id, dates, data interval, mode) in the DAG
  run's context; the try number is the Databricks task's ``{{task.execution_count}}`` and an
  audit's upstream states are its earlier tasks' ``{{tasks.<key>.result_state}}`` (as in the
  native job export);
* **the trigger form's table selection**: the launch leaves out the tasks of tables not selected
  (and, like Airflow's skip, the ``all_success`` tasks after them); their Airflow tasks skip;
* **repair on a later try**: a task cleared from the grid (or retried) whose Databricks task failed
  asks for one ``runs/repair`` of that task and its dependents in the same job run -- no second
  job run -- once the run has finished (Databricks repairs finished runs only). The job cluster
  ended with the run, so the repair starts it once more. Failed tasks are retried by Databricks
  itself first (``max_retries`` on the live job cluster), so the Airflow tasks have no retries.
"""

from __future__ import annotations

import time
from types import TracebackType
from typing import Any

from airflow.providers.databricks.hooks.databricks import RunState
from airflow.providers.databricks.operators.databricks import DatabricksTaskOperator
from airflow.providers.databricks.operators.databricks_workflow import (
    DatabricksWorkflowTaskGroup,
    _CreateDatabricksWorkflowOperator,
    _flatten_node,
)
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowSkipException

from lakehouse_airflow.build.params import skip_unless_selected
from lakehouse_airflow.operators.assets import record_commits

GROUP_ID = "databricks_job"
LAUNCH_TASK_ID = "launch"
REPAIR_WAIT_SECONDS = 5.0
UNSUCCESSFUL = {"FAILED", "TIMEDOUT", "CANCELED", "UPSTREAM_FAILED", "UPSTREAM_CANCELED", "EXCLUDED"}


def excluded_tasks(tasks: dict[str, BaseOperator], chosen: list[str]) -> set[str]:
    """Task ids a run selecting ``chosen`` tables leaves out: tasks serving only other tables, and
    (as Airflow skips them) ``all_success`` tasks downstream of a left-out one."""
    if not chosen:
        return set()
    serves = {task_id: set(getattr(task, "lakehouse_tables", ())) for task_id, task in tasks.items()}
    out = {task_id for task_id, tables in serves.items() if tables and not tables & set(chosen)}
    changed = True
    while changed:
        changed = False
        for task_id, task in tasks.items():
            if task_id not in out and task.trigger_rule == "all_success" and task.upstream_task_ids & out:
                out.add(task_id)
                changed = True
    return out


def latest_attempt(task_runs: list[dict[str, Any]], key: str) -> dict[str, Any]:
    """The newest task run of ``key`` in a job run: a repair adds one. Not by start time (the
    provider's way): a repaired task waiting for its upstream tasks has not started (0), and
    neither has an attempt that ended ``UPSTREAM_FAILED`` -- task run ids grow with creation."""
    mine = [t for t in task_runs if t["task_key"] == key]
    if not mine:
        raise KeyError(key)
    return max(mine, key=lambda t: int(t["run_id"]))


class LakehouseWorkflowLaunch(_CreateDatabricksWorkflowOperator):
    """The provider's launch, with the DAG run's table selection applied to the job's tasks."""

    def create_workflow_json(self, context: Context | None = None) -> dict[str, object]:
        chosen = list(((context or {}).get("params") or {}).get("tables") or [])
        left_out = excluded_tasks(self.tasks_to_convert, chosen)
        everything, upstreams = self.tasks_to_convert, self.relevant_upstreams
        self.tasks_to_convert = {k: t for k, t in everything.items() if k not in left_out}
        self.relevant_upstreams = [k for k in upstreams if k not in left_out]
        try:
            if left_out:
                self.log.info("tables %s selected: %d tasks left out of the job run", chosen, len(left_out))
            return super().create_workflow_json(context)
        finally:
            self.tasks_to_convert, self.relevant_upstreams = everything, upstreams


class LakehouseWorkflowGroup(DatabricksWorkflowTaskGroup):
    """``DatabricksWorkflowTaskGroup`` whose launch is :class:`LakehouseWorkflowLaunch`; ids are not
    prefixed (``prefix_group_id=False``), so task ids stay those of the other compute modes."""

    def __exit__(
        self, _type: type[BaseException] | None, _value: BaseException | None, _tb: TracebackType | None
    ) -> None:
        # the provider's __exit__ (apache-airflow-providers-databricks 7.x) with this launch class
        roots = list(self.get_roots())
        tasks = _flatten_node(self)
        launch = LakehouseWorkflowLaunch(
            dag=self.dag, task_group=self, task_id=LAUNCH_TASK_ID, databricks_conn_id=self.databricks_conn_id,
            access_control_list=self.access_control_list, extra_job_params=self.extra_job_params,
            job_clusters=self.job_clusters, max_concurrent_runs=self.max_concurrent_runs, retries=0,
        )  # fmt: skip
        try:
            for task in tasks:
                if not isinstance(task, LakehouseWorkflowTaskOperator):
                    raise TypeError(f"{task.task_id} is not a Databricks workflow task (compute: workflow)")
                task.workflow_run_metadata = launch.output  # type: ignore[assignment]  # rendered at execute
                launch.relevant_upstreams.append(task.task_id)
                launch.add_task(task.task_id, task)
            for root in roots:
                root.set_upstream(launch)
        finally:
            super(DatabricksWorkflowTaskGroup, self).__exit__(_type, _value, _tb)


class LakehouseWorkflowTaskOperator(DatabricksTaskOperator):
    """One Spark task of the job run: rendered at launch, followed (and repaired) at execute."""

    def __init__(self, *, lakehouse_tables: tuple[str, ...] = (), **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.lakehouse_tables = lakehouse_tables

    def _convert_to_databricks_workflow_task(
        self, relevant_upstreams: list[str], task_dict: dict[str, BaseOperator], context: Context | None = None
    ) -> dict[str, object]:
        """The job's task, its run flags rendered in the launch's context (the same DAG run)."""
        unrendered = self.task_config
        if context is not None:
            self.task_config = self.render_template(unrendered, context)
        try:
            return super()._convert_to_databricks_workflow_task(relevant_upstreams, task_dict, context)
        finally:
            self.task_config = unrendered

    def _get_current_databricks_task(self) -> dict[str, Any]:
        if self.databricks_run_id is None:
            raise ValueError("Databricks job not yet launched")
        return latest_attempt(self._hook.get_run_tasks(self.databricks_run_id), self.databricks_task_key)

    def execute(self, context: Context) -> None:
        skip_unless_selected(context, self.lakehouse_tables)
        metadata = self.workflow_run_metadata or {}
        self.databricks_run_id = metadata.get("run_id")
        if self.databricks_run_id is None:
            raise RuntimeError(f"no Databricks job run for this DAG run: {LAUNCH_TASK_ID} has not run")
        try:
            self._get_current_databricks_task()
        except KeyError:
            raise AirflowSkipException(
                f"{self.databricks_task_key} is not in job run {self.databricks_run_id} (its tables were not selected)"
            ) from None
        if context["ti"].try_number > 1:
            self._repair_if_failed()
        super().execute(context)
        record_commits(context, self.outlets)

    def _repair_if_failed(self) -> None:
        """A later try (a grid clear, a retry) of a task whose Databricks task did not succeed: one
        repair of it and its dependents, once the job run has finished. A task already re-running
        (a repair of an upstream task includes it) is followed as it is."""
        assert self.databricks_run_id is not None
        run_id = self.databricks_run_id
        while True:
            run = self._hook.get_run(run_id)
            attempt = latest_attempt(run.get("tasks", []), self.databricks_task_key)
            task_state = RunState(**attempt["state"])
            if not task_state.is_terminal or task_state.result_state not in UNSUCCESSFUL:
                return
            if RunState(**run["state"]).is_terminal:
                break
            self.log.info("job run %s is still running; a repair waits for it to finish", run_id)
            time.sleep(REPAIR_WAIT_SECONDS)
        request: dict[str, Any] = {"run_id": run_id, "rerun_tasks": [self.databricks_task_key],
                                   "rerun_dependent_tasks": True}  # fmt: skip
        latest = self._hook.get_latest_repair_id(run_id)
        if latest is not None:
            request["latest_repair_id"] = latest
        repair_id = self._hook.repair_run(request)
        self.log.info("repairing %s (and its dependents) in job run %s: repair %s", self.databricks_task_key,
                      run_id, repair_id)  # fmt: skip
