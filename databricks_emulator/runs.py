"""Run life cycle of the emulated Jobs service: a run (one-time ``runs/submit`` or ``run-now`` of a
created job) executes its task graph, each task as a real ``python <python_file> <parameters>``
process on the local machine: a task starts when its ``depends_on`` tasks are done and its
``run_if`` condition holds (otherwise it ends ``UPSTREAM_FAILED``), at most ``max_parallel`` at a
time; a failed task is retried up to ``max_retries`` times after ``min_retry_interval_millis``;
dynamic value references in its parameters are substituted when it starts.

What the emulated "cluster" gives a task, like a Databricks runtime does:
* the runtime's preinstalled libraries: the interpreter's own site-packages (pyspark, delta-spark,
  databricks-sdk), linked into an isolated virtual environment through a ``.pth`` file;
* the run's ``libraries`` / serverless ``dependencies`` wheels installed into that environment
  (``pip install --no-deps --target``), cached by wheel content, never the project's source tree;
* ``SparkSession.builder.getOrCreate()`` returning the cluster's session (``SPARK_REMOTE``, the local
  Spark Connect server), ``DATABRICKS_RUNTIME_VERSION``, and the workspace API for
  ``databricks.sdk.runtime.dbutils`` (secrets);
* ``/Volumes/...`` paths (the FUSE mount) backed by the emulator's storage directory, announced to
  the job as ``LAKEHOUSE_VOLUMES_MOUNT``.
"""

from __future__ import annotations

import hashlib
import itertools
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
import venv
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from databricks_emulator.errors import ApiError
from databricks_emulator.references import check, substitute, time_values

__all__ = ["ApiError", "Run", "TaskRun", "Workspace"]

TASK_SETTINGS = (
    "spark_python_task", "libraries", "new_cluster", "job_cluster_key", "environment_key", "timeout_seconds",
    "depends_on", "run_if", "max_retries",
)  # fmt: skip
TERMINAL = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}
ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit)[\w]*): (.+)$")
BAD = {"FAILED", "TIMEDOUT", "CANCELED", "UPSTREAM_FAILED", "UPSTREAM_CANCELED"}


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass
class TaskRun:
    run_id: int
    task_key: str
    spec: dict[str, Any]
    life_cycle_state: str = "PENDING"
    result_state: str | None = None
    state_message: str = ""
    error: str | None = None
    error_trace: str | None = None
    logs: str = ""
    start_time: int = 0
    end_time: int = 0
    execution_count: int = 0
    process: subprocess.Popen[str] | None = None

    @property
    def depends_on(self) -> list[str]:
        return [str(d["task_key"]) for d in self.spec.get("depends_on", [])]

    def finish(self, result: str, message: str) -> None:
        self.life_cycle_state, self.result_state, self.state_message = "TERMINATED", result, message
        self.end_time = now_ms()

    def state(self) -> dict[str, Any]:
        out: dict[str, Any] = {"life_cycle_state": self.life_cycle_state, "state_message": self.state_message}
        if self.result_state:
            out["result_state"] = self.result_state
        return out


@dataclass
class Run:
    run_id: int
    run_name: str
    payload: dict[str, Any]
    tasks: list[TaskRun]
    run_page_url: str
    start_time: int = field(default_factory=now_ms)
    end_time: int = 0
    cancel_requested: bool = False
    job_id: int | None = None
    job_name: str = ""
    number_in_job: int = 0
    job_parameters: dict[str, str] = field(default_factory=dict)
    trigger_type: str = "ONE_TIME"

    def task(self, key: str) -> TaskRun:
        return next(t for t in self.tasks if t.task_key == key)

    def references(self, task: TaskRun, base_url: str) -> dict[str, str]:
        """The dynamic values a task sees when it starts."""
        values = {
            "job.id": str(self.job_id or ""),
            "job.name": self.job_name or self.run_name,
            "job.run_id": str(self.run_id),
            "job.repair_count": "0",
            "job.trigger.type": self.trigger_type.lower(),
            "task.name": task.task_key,
            "task.run_id": str(task.run_id),
            "task.execution_count": str(task.execution_count),
            "workspace.id": "0",
            "workspace.url": base_url,
            **time_values("job.start_time", self.start_time),
            **time_values("job.trigger.time", self.start_time),
            **{f"job.parameters.{k}": v for k, v in self.job_parameters.items()},
        }
        for other in self.tasks:
            if other.life_cycle_state in TERMINAL:
                prefix = f"tasks.{other.task_key}"
                values[f"{prefix}.run_id"] = str(other.run_id)
                values[f"{prefix}.result_state"] = (other.result_state or "").lower()
                values[f"{prefix}.execution_count"] = str(other.execution_count)
                values[f"{prefix}.error_code"] = "" if other.result_state == "SUCCESS" else (other.result_state or "")
        return values

    @property
    def life_cycle_state(self) -> str:
        states = [t.life_cycle_state for t in self.tasks]
        if all(s in TERMINAL for s in states):
            return "TERMINATED"
        return "RUNNING" if any(s != "PENDING" for s in states) else "PENDING"

    def result_state(self) -> str | None:
        if self.life_cycle_state != "TERMINATED":
            return None
        results = [t.result_state for t in self.tasks]
        for bad in ("CANCELED", "TIMEDOUT", "FAILED", "UPSTREAM_FAILED"):
            if bad in results:
                return bad
        return "SUCCESS"

    def describe(self) -> dict[str, Any]:
        state: dict[str, Any] = {"life_cycle_state": self.life_cycle_state, "state_message": self.state_message()}
        if result := self.result_state():
            state["result_state"] = result
        job = (
            {"job_id": self.job_id, "number_in_job": self.number_in_job, "job_parameters": [
                {"name": k, "value": v} for k, v in self.job_parameters.items()]}
            if self.job_id is not None
            else {}
        )  # fmt: skip
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "run_type": "JOB_RUN" if self.job_id is not None else "SUBMIT_RUN",
            **job,
            "state": state,
            "status": {"state": self.life_cycle_state},
            "run_page_url": self.run_page_url,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "tasks": [
                {
                    "run_id": t.run_id,
                    "task_key": t.task_key,
                    "attempt_number": max(t.execution_count - 1, 0),
                    "state": t.state(),
                    "start_time": t.start_time,
                    "end_time": t.end_time,
                    **{k: t.spec[k] for k in TASK_SETTINGS if k in t.spec},
                }
                for t in self.tasks
            ],
        }

    def state_message(self) -> str:
        for task in self.tasks:
            if task.result_state not in (None, "SUCCESS"):
                return task.state_message
        return next((t.state_message for t in self.tasks if t.life_cycle_state == "RUNNING"), "")


def error_of(stderr: str, returncode: int) -> tuple[str, str]:
    """(error, error_trace) of a failed Python task, as get-output reports them: the exception line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if match := ERROR_LINE.match(line):
            return f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(3)}", "\n".join(lines[-40:])
    return f"the Python process exited with code {returncode}", "\n".join(lines[-40:])


class Workspace:
    """The emulated workspace: files under ``/Volumes``, secrets, and submitted runs."""

    def __init__(self, root: Path, base_url: str, spark_remote: str, token: str, max_parallel: int = 2) -> None:
        self.root = root
        self.base_url = base_url
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

    # ---- files ------------------------------------------------------------------------------
    def local(self, path: str) -> Path:
        """Local backing file of a workspace path (``/Volumes/...`` only, like the Files API)."""
        if not path.startswith("/Volumes/") or ".." in Path(path).parts:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"not a Unity Catalog volume path: {path}")
        return self.root / path.lstrip("/")

    # ---- jobs -------------------------------------------------------------------------------
    def create_job(self, settings: dict[str, Any]) -> int:
        """``jobs/create``: the settings are checked as the service does, then stored."""
        self._check_tasks(settings)
        parameters = {str(p["name"]) for p in settings.get("parameters", [])}
        keys = {str(t["task_key"]) for t in settings["tasks"]}
        for task in settings["tasks"]:
            where = f"task {task['task_key']}"
            check(map(str, task["spark_python_task"].get("parameters", [])), parameters, keys, where)
            cluster = task.get("job_cluster_key")
            if cluster and cluster not in {c.get("job_cluster_key") for c in settings.get("job_clusters", [])}:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", f"{where}: job cluster {cluster!r} is not defined")
        with self._lock:
            job_id = next(self._ids)
            self.jobs[job_id] = {k: v for k, v in settings.items() if k != "access_control_list"}
        return job_id

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
        return self._start(payload, payload.get("idempotency_token"))

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
        _topological(tasks)

    def _start(self, payload: dict[str, Any], token: str | None, **job: Any) -> int:  # noqa: ANN401
        with self._lock:
            if token and token in self.tokens:  # the API's guarantee: same token -> the same run
                return self.tokens[token]
            run_id = next(self._ids)
            run = Run(
                run_id=run_id,
                run_name=str(payload.get("run_name") or payload.get("name") or "Untitled"),
                payload=payload,
                tasks=[
                    TaskRun(next(self._ids), str(t.get("task_key", "task")), t) for t in _topological(payload["tasks"])
                ],
                run_page_url=f"{self.base_url}/?o=0#job/{job.get('job_id') or 0}/run/{run_id}",
                **job,
            )
            self.runs[run_id] = run
            if token:
                self.tokens[token] = run_id
        threading.Thread(target=self._execute, args=(run,), name=f"run-{run_id}", daemon=True).start()
        return run_id

    def get(self, run_id: int) -> Run:
        run = self.runs.get(run_id)
        if run is None:
            raise ApiError(404, "RESOURCE_DOES_NOT_EXIST", f"Run {run_id} does not exist.")
        return run

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
        for task in run.tasks:
            if task.process is not None and task.process.poll() is None:
                task.process.terminate()

    # ---- execution --------------------------------------------------------------------------
    def _execute(self, run: Run) -> None:
        """Start every task whose dependencies are done and whose ``run_if`` holds, up to
        ``max_parallel`` at once, until all are terminal."""
        pending = list(run.tasks)
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
                blocked = _blocked(str(task.spec.get("run_if") or "ALL_SUCCESS"), [d.result_state for d in deps])
                if blocked:
                    pending.remove(task)
                    task.finish(blocked, "An upstream task failed." if blocked != "EXCLUDED" else "run_if not met.")
                    continue
                if len(running) >= self.max_parallel:
                    break
                pending.remove(task)
                thread = threading.Thread(target=self._attempts, args=(run, task), daemon=True)
                thread.start()
                running.append(thread)
            time.sleep(0.1)
        run.end_time = now_ms()

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
        python = self._environment(run, task.spec)
        if run.cancel_requested:
            task.life_cycle_state, task.result_state, task.state_message = "TERMINATED", "CANCELED", "Run cancelled."
            return
        spark_task = task.spec["spark_python_task"]
        script = self.local(str(spark_task["python_file"]))
        if not script.is_file():
            raise FileNotFoundError(f"python_file {spark_task['python_file']} does not exist")
        task.life_cycle_state, task.state_message = "RUNNING", "In run"
        timeout = int(task.spec.get("timeout_seconds") or run.payload.get("timeout_seconds") or 0) or None
        work = self.root / "runs" / str(task.run_id)
        work.mkdir(parents=True, exist_ok=True)
        values = run.references(task, self.base_url)
        proc = subprocess.Popen(
            [str(python), str(script), *(substitute(str(p), values) for p in spark_task.get("parameters", []))],
            cwd=work,
            env=self._cluster_env(),
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

    def _cluster_env(self) -> dict[str, str]:
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "JAVA_HOME", "TMPDIR", "SPARK_LOCAL_IP", "TZ")
        env = {k: v for k, v in os.environ.items() if k in keep}
        env.update(
            {
                "DATABRICKS_RUNTIME_VERSION": "17.3",
                "SPARK_REMOTE": self.spark_remote,
                "SPARK_CONNECT_MODE_ENABLED": "1",
                "DATABRICKS_HOST": self.base_url,
                "DATABRICKS_TOKEN": self.token,
                "LAKEHOUSE_VOLUMES_MOUNT": str(self.root),
                "PYTHONUNBUFFERED": "1",
            }
        )
        return env

    def _environment(self, run: Run, spec: dict[str, Any]) -> Path:
        """The interpreter of an isolated environment holding the task's wheels (cached by content)."""
        wheels = [lib["whl"] for lib in spec.get("libraries", []) if "whl" in lib]
        if key := spec.get("environment_key"):
            for env in run.payload.get("environments", []):
                if env.get("environment_key") == key:
                    wheels += [dep for dep in env.get("spec", {}).get("dependencies", []) if dep.endswith(".whl")]
        files = [self.local(w) for w in wheels]
        for path, name in zip(files, wheels, strict=True):
            if not path.is_file():
                raise FileNotFoundError(f"library {name} does not exist")
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]
        target = self.root / "envs" / digest
        python = target / "bin" / "python"
        with self._lock:
            if not python.exists():
                staging = target.with_suffix(".tmp")
                shutil.rmtree(staging, ignore_errors=True)
                venv.EnvBuilder(with_pip=False, symlinks=True).create(staging)
                site = next((staging / "lib").glob("python3*/site-packages"))
                (site / "_databricks_runtime.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
                if files:
                    subprocess.run(
                        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                         str(site), *map(str, files)],
                        check=True, capture_output=True, text=True,
                    )  # fmt: skip
                staging.rename(target)
        return python


def _topological(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Tasks ordered so that every task follows its dependencies; a cycle is an error."""
    by_key = {str(t.get("task_key", "task")): t for t in tasks}
    ordered: list[dict[str, Any]] = []
    state: dict[str, int] = {}

    def visit(key: str) -> None:
        if state.get(key) == 2:
            return
        if state.get(key) == 1:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"the task graph has a cycle through {key}")
        state[key] = 1
        for dep in by_key[key].get("depends_on", []):
            visit(str(dep["task_key"]))
        state[key] = 2
        ordered.append(by_key[key])

    for key in by_key:
        visit(key)
    return ordered


def _blocked(run_if: str, upstream: list[str | None]) -> str | None:
    """The result of a task whose ``run_if`` does not hold for its dependencies' results, else None."""
    failed = [r for r in upstream if r in BAD]
    succeeded = [r for r in upstream if r == "SUCCESS"]
    holds = {
        "ALL_SUCCESS": len(succeeded) == len(upstream),
        "NONE_FAILED": not failed,
        "ALL_DONE": True,
        "AT_LEAST_ONE_SUCCESS": bool(succeeded) or not upstream,
        "AT_LEAST_ONE_FAILED": bool(failed),
        "ALL_FAILED": len(failed) == len(upstream),
    }.get(run_if)
    if holds is None:
        raise ApiError(400, "INVALID_PARAMETER_VALUE", f"unknown run_if {run_if!r}")
    if holds:
        return None
    if run_if in ("ALL_SUCCESS", "NONE_FAILED") and any(r in ("CANCELED", "UPSTREAM_CANCELED") for r in upstream):
        return "UPSTREAM_CANCELED"
    return "UPSTREAM_FAILED" if failed else "EXCLUDED"
