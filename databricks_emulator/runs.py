"""Run life cycle of the emulated Jobs service: a run (one-time ``runs/submit`` or ``run-now`` of a
created job) executes its task graph, each task as a real ``python <python_file> <parameters>``
process on the local machine: a task starts when its ``depends_on`` tasks are done and its
``run_if`` condition holds (otherwise it ends ``UPSTREAM_FAILED``), at most ``max_parallel`` at a
time; a failed task is retried up to ``max_retries`` times after ``min_retry_interval_millis``;
dynamic value references in its parameters are substituted when it starts.

What the task's process gets from the emulated cluster (its environment and interpreter):
``databricks_emulator/runtime.py``.
"""

from __future__ import annotations

import itertools
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

from databricks_emulator.clusters import Clusters
from databricks_emulator.errors import ApiError
from databricks_emulator.model import TERMINAL, Run, TaskRun, blocked, error_of, now_ms, repair_keys, topological
from databricks_emulator.references import check, substitute
from databricks_emulator.runtime import Runtime

__all__ = ["ApiError", "Run", "TaskRun", "Workspace"]


class Workspace:
    """The emulated workspace: files under ``/Volumes``, secrets, and submitted runs."""

    def __init__(
        self, root: Path, base_url: str, spark_remote: str, token: str, max_parallel: int = 2,
        clusters: Clusters | None = None,
    ) -> None:  # fmt: skip
        self.root = root
        self.clusters = clusters or Clusters()
        self.spark_remote = spark_remote
        self.token = token
        self.secrets: dict[str, dict[str, str]] = {}
        self.runs: dict[int, Run] = {}
        self.jobs: dict[int, dict[str, Any]] = {}
        self.tokens: dict[str, int] = {}
        self.max_parallel = max_parallel
        self._ids = itertools.count(1000)
        self._lock = threading.Lock()
        (root / "Volumes").mkdir(parents=True, exist_ok=True)
        (root / "envs").mkdir(exist_ok=True)
        self.runtime = Runtime(root, base_url, spark_remote, token, self.secrets, self.local)

    @property
    def base_url(self) -> str:
        """The workspace URL; known once the server has bound its port, so it is set after
        construction and the runtime (the jobs' ``DATABRICKS_HOST``) always reads this one."""
        return self.runtime.base_url

    @base_url.setter
    def base_url(self, value: str) -> None:
        self.runtime.base_url = value

    # ---- files ------------------------------------------------------------------------------
    def local(self, path: str) -> Path:
        """Local backing file of a workspace path (``/Volumes/...`` only, like the Files API)."""
        if not path.startswith("/Volumes/") or ".." in Path(path).parts:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"not a Unity Catalog volume path: {path}")
        return self.root / path.lstrip("/")

    # ---- jobs -------------------------------------------------------------------------------
    def create_job(self, settings: dict[str, Any]) -> int:
        """``jobs/create``: the settings are checked as the service does, then stored."""
        self._check_job(settings)
        with self._lock:
            job_id = next(self._ids)
            self.jobs[job_id] = {k: v for k, v in settings.items() if k != "access_control_list"}
        return job_id

    def _check_job(self, settings: dict[str, Any]) -> None:
        self._check_tasks(settings)
        parameters = {str(p["name"]) for p in settings.get("parameters", [])}
        keys = {str(t["task_key"]) for t in settings["tasks"]}
        for task in settings["tasks"]:
            where = f"task {task['task_key']}"
            check(map(str, task["spark_python_task"].get("parameters", [])), parameters, keys, where)
            cluster = task.get("job_cluster_key")
            if cluster and cluster not in {c.get("job_cluster_key") for c in settings.get("job_clusters", [])}:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{where}: job cluster {cluster!r} is not defined")

    def reset_job(self, job_id: int, settings: dict[str, Any]) -> None:
        """``jobs/reset``: the job's settings replaced as a whole (checked as ``create`` checks them)."""
        self.job(job_id)
        self._check_job(settings)
        with self._lock:
            self.jobs[job_id] = {k: v for k, v in settings.items() if k != "access_control_list"}

    def job(self, job_id: int) -> dict[str, Any]:
        if job_id not in self.jobs:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Job {job_id} does not exist.")
        return self.jobs[job_id]

    def run_now(self, job_id: int, job_parameters: dict[str, Any], token: str | None = None) -> int:
        """``jobs/run-now``: declared parameters only, defaults filled in."""
        settings = self.job(job_id)
        defaults = {str(p["name"]): str(p.get("default", "")) for p in settings.get("parameters", [])}
        unknown = set(job_parameters) - set(defaults)
        if unknown:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"job parameters not defined by the job: {sorted(unknown)}")
        number = sum(1 for r in self.runs.values() if r.job_id == job_id) + 1
        return self._start(
            settings,
            token,
            job_id=job_id,
            job_name=str(settings.get("name") or ""),
            number_in_job=number,
            job_parameters={**defaults, **{k: str(v) for k, v in job_parameters.items()}},
            trigger_type="ONE_TIME",
        )

    # ---- runs -------------------------------------------------------------------------------
    def submit(self, payload: dict[str, Any]) -> int:
        self._check_tasks(payload)
        token = payload.get("idempotency_token")
        if not (token and token in self.tokens):  # a new run: its existing clusters must be up
            for task in payload["tasks"]:
                if task.get("existing_cluster_id"):
                    self.clusters.require_running(str(task["existing_cluster_id"]))
        return self._start(payload, token)

    def _check_tasks(self, payload: dict[str, Any]) -> None:
        tasks = payload.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "tasks: at least one task is required")
        keys = [str(t.get("task_key", "task")) for t in tasks]
        if len(set(keys)) != len(keys):
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "task keys must be unique")
        for task in tasks:
            if "spark_python_task" not in task:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", "only spark_python_task tasks are emulated")
            if "python_file" not in task["spark_python_task"]:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", "spark_python_task.python_file is required")
            compute = ("new_cluster", "job_cluster_key", "environment_key", "existing_cluster_id")
            if not any(k in task for k in compute):
                raise ApiError(400, "INVALID_PARAMETER_VALUE", f"task {task.get('task_key')}: no compute given")
            for dep in task.get("depends_on", []):
                if dep.get("task_key") not in keys:
                    raise ApiError(
                        400,
                        "INVALID_PARAMETER_VALUE",
                        f"task {task['task_key']} depends on unknown {dep.get('task_key')}",
                    )
        topological(tasks)

    def _start(self, payload: dict[str, Any], token: str | None, **job: Any) -> int:
        with self._lock:
            if token and token in self.tokens:  # the API's guarantee: same token -> the same run
                return self.tokens[token]
            run_id = next(self._ids)
            run = Run(
                run_id=run_id,
                run_name=str(payload.get("run_name") or payload.get("name") or "Untitled"),
                payload=payload,
                tasks=[
                    TaskRun(next(self._ids), str(t.get("task_key", "task")), t) for t in topological(payload["tasks"])
                ],
                run_page_url=f"{self.base_url}/?o=0#job/{job.get('job_id') or 0}/run/{run_id}",
                **job,
            )
            self.runs[run_id] = run
            if token:
                self.tokens[token] = run_id
        threading.Thread(target=self._execute, args=(run, list(run.tasks)), name=f"run-{run_id}", daemon=True).start()
        return run_id

    def repair(self, body: dict[str, Any]) -> int:
        """``runs/repair``: re-run tasks of a finished job run as part of that run (new task runs of
        the same keys; with ``rerun_dependent_tasks`` their dependents too). A job cluster the run
        had is gone once the run ended, so a repaired task on it launches the cluster again."""
        run = self.get(int(body["run_id"]))
        with self._lock:
            keys = repair_keys(run, body)
            repair_id = next(self._ids)
            reruns = []
            for old in run.latest():  # the graph's order
                if old.task_key in keys:
                    reruns.append(TaskRun(next(self._ids), old.task_key, old.spec, prior_attempts=old.attempts))
            run.tasks.extend(reruns)
            run.repairs.append({"id": repair_id, "start_time": now_ms(), "task_run_ids": [t.run_id for t in reruns]})
            run.end_time = 0
            run.cancel_requested = False
        threading.Thread(target=self._execute, args=(run, reruns), name=f"repair-{repair_id}", daemon=True).start()
        return repair_id

    def get(self, run_id: int) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.")
        return run

    def describe(self, run_id: int, include_history: bool = False) -> dict[str, Any]:
        """``runs/get`` of a run, or of one task run (its own run id): that task as a run."""
        if run_id in self.runs:
            return self.runs[run_id].describe(include_history)
        task = self.task_run(run_id)
        run = next(r for r in self.runs.values() if task in r.tasks)
        described = task.describe()
        return {**described, "run_name": task.task_key, "run_page_url": f"{run.run_page_url}/task/{task.run_id}",
                "status": {"state": task.life_cycle_state}, "tasks": [described]}  # fmt: skip

    def task_run(self, run_id: int) -> TaskRun:
        for run in self.runs.values():
            for task in run.tasks:
                if task.run_id == run_id:
                    return task
        if run_id in self.runs:
            raise ApiError(
                400, "INVALID_PARAMETER_VALUE", "Retrieving the output of runs with multiple tasks is not supported."
            )
        raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.")

    def cancel(self, run_id: int) -> None:
        run = self.get(run_id)
        run.cancel_requested = True
        for task in run.latest():
            if task.process is not None and task.process.poll() is None:
                task.process.terminate()

    # ---- execution --------------------------------------------------------------------------
    def _execute(self, run: Run, pending: list[TaskRun]) -> None:
        """Start every pending task whose dependencies are done and whose ``run_if`` holds, up to
        ``max_parallel`` at once, until all are terminal; then the run's job clusters end."""
        running: list[threading.Thread] = []
        while pending or running:
            running = [t for t in running if t.is_alive()]
            for task in list(pending):
                deps = [run.task(k) for k in task.depends_on]
                if any(d.life_cycle_state not in TERMINAL for d in deps):
                    continue
                if run.cancel_requested:
                    pending.remove(task)
                    task.finish("CANCELED", "Run cancelled.")
                    continue
                verdict = blocked(str(task.spec.get("run_if") or "ALL_SUCCESS"), [d.result_state for d in deps])
                if verdict:
                    pending.remove(task)
                    task.finish(verdict, "An upstream task failed." if verdict != "EXCLUDED" else "run_if not met.")
                    continue
                if len(running) >= self.max_parallel:
                    break
                pending.remove(task)
                thread = threading.Thread(target=self._attempts, args=(run, task), daemon=True)
                thread.start()
                running.append(thread)
            time.sleep(0.1)
        self.clusters.end_job_clusters(run.run_id)
        run.end_time = now_ms()  # the run reads TERMINATED from here on: its job clusters have ended

    def _attempts(self, run: Run, task: TaskRun) -> None:
        """The task's first try and its retries."""
        retries = int(task.spec.get("max_retries") or 0)
        interval = int(task.spec.get("min_retry_interval_millis") or 0) / 1000
        task.start_time = now_ms()
        for attempt in range(retries + 1):
            task.execution_count = attempt + 1
            task.result_state, task.error, task.error_trace = None, None, None
            try:
                self._run_task(run, task)
            except Exception as exc:  # the emulator's own failure: reported like the service's
                task.life_cycle_state, task.result_state = "INTERNAL_ERROR", "FAILED"
                task.state_message = f"{type(exc).__name__}: {exc}"
                task.error = task.state_message
                break
            if task.result_state in ("SUCCESS", "CANCELED") or attempt == retries:
                break
            task.life_cycle_state, task.state_message = "PENDING", f"Waiting for retry {attempt + 1} of {retries}"
            deadline = time.monotonic() + interval
            while time.monotonic() < deadline and not run.cancel_requested:
                time.sleep(0.1)
            if run.cancel_requested:
                task.finish("CANCELED", "Run cancelled.")
                break
        task.end_time = now_ms()

    def _run_task(self, run: Run, task: TaskRun) -> None:
        task.state_message = "Installing libraries"
        python = self.runtime.interpreter(run.payload, task.spec)
        if run.cancel_requested:
            task.life_cycle_state, task.result_state, task.state_message = "TERMINATED", "CANCELED", "Run cancelled."
            return
        spark_task = task.spec["spark_python_task"]
        script = self.local(str(spark_task["python_file"]))
        if not script.is_file():
            raise FileNotFoundError(f"python_file {spark_task['python_file']} does not exist")
        if task.spec.get("existing_cluster_id"):
            self.clusters.require_running(str(task.spec["existing_cluster_id"]))
        launch = (
            self.clusters.task_cluster(run.run_name, task.spec["new_cluster"]) if "new_cluster" in task.spec else None
        )
        cluster: dict[str, Any] | None
        if task.spec.get("existing_cluster_id"):
            cluster = self.clusters.get(str(task.spec["existing_cluster_id"])).spec
        elif key := task.spec.get("job_cluster_key"):
            cluster = next(c["new_cluster"] for c in run.payload.get("job_clusters", []) if c["job_cluster_key"] == key)
            self.clusters.job_cluster(run.run_id, run.run_name, str(key), cluster)  # launched once per run (and repair)
        else:
            cluster = task.spec.get("new_cluster")
        env = self.runtime.driver_env(cluster)
        task.life_cycle_state, task.state_message = "RUNNING", "In run"
        try:
            self._run_process(run, task, python, script, spark_task, env)
        finally:
            if launch is not None:
                launch.ended = time.time()

    def _run_process(
        self, run: Run, task: TaskRun, python: Path, script: Path, spark_task: dict[str, Any], env: dict[str, str]
    ) -> None:
        timeout = int(task.spec.get("timeout_seconds") or run.payload.get("timeout_seconds") or 0) or None
        work = self.root / "runs" / str(task.run_id)
        work.mkdir(parents=True, exist_ok=True)
        values = run.references(task, self.base_url)
        proc = subprocess.Popen(
            [str(python), str(script), *(substitute(str(p), values) for p in spark_task.get("parameters", []))],
            cwd=work,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        task.process = proc
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            task.result_state, task.state_message = "TIMEDOUT", f"Run timed out after {timeout} seconds."
        task.logs = stdout + stderr
        (work / f"driver.{task.execution_count}.log").write_text(task.logs)
        (work / "driver.log").write_text(task.logs)
        task.life_cycle_state = "TERMINATED"
        if task.result_state == "TIMEDOUT":
            return
        if run.cancel_requested:
            task.result_state, task.state_message = "CANCELED", "Run cancelled."
        elif proc.returncode == 0:
            task.result_state, task.state_message = "SUCCESS", ""
        else:
            task.result_state = "FAILED"
            task.error, task.error_trace = error_of(stderr, proc.returncode)
            task.state_message = f"Workload failed, see run output for details: {task.error}"
