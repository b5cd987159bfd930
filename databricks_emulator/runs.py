"""Run life cycle of the emulated Jobs service: one submitted run = its tasks executed in order,
each as a real ``python <python_file> <parameters>`` process on the local machine.

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

TASK_SETTINGS = ("spark_python_task", "libraries", "new_cluster", "environment_key", "timeout_seconds")
TERMINAL = {"TERMINATED", "SKIPPED", "INTERNAL_ERROR"}
ERROR_LINE = re.compile(r"^([A-Za-z_][\w.]*(Error|Exception|Exit)[\w]*): (.+)$")


class ApiError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


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
    start_time: int = field(default_factory=now_ms)
    end_time: int = 0

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
    process: subprocess.Popen[str] | None = None

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
        return {
            "run_id": self.run_id,
            "run_name": self.run_name,
            "run_type": "SUBMIT_RUN",
            "state": state,
            "status": {"state": self.life_cycle_state},
            "run_page_url": self.run_page_url,
            "start_time": self.start_time,
            "end_time": self.end_time,
            "tasks": [
                {
                    "run_id": t.run_id,
                    "task_key": t.task_key,
                    "attempt_number": 0,
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

    def __init__(self, root: Path, base_url: str, spark_remote: str, token: str) -> None:
        self.root = root
        self.base_url = base_url
        self.spark_remote = spark_remote
        self.token = token
        self.secrets: dict[str, dict[str, str]] = {}
        self.runs: dict[int, Run] = {}
        self.tokens: dict[str, int] = {}
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

    # ---- runs -------------------------------------------------------------------------------
    def submit(self, payload: dict[str, Any]) -> int:
        tasks = payload.get("tasks")
        if not isinstance(tasks, list) or not tasks:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "tasks: at least one task is required")
        for task in tasks:
            if "spark_python_task" not in task:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", "only spark_python_task tasks are emulated")
            if "python_file" not in task["spark_python_task"]:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", "spark_python_task.python_file is required")
            if "new_cluster" not in task and "environment_key" not in task and "existing_cluster_id" not in task:
                raise ApiError(400, "INVALID_PARAMETER_VALUE", f"task {task.get('task_key')}: no compute given")
        token = payload.get("idempotency_token")
        with self._lock:
            if token and token in self.tokens:  # the API's guarantee: same token -> the same run
                return self.tokens[token]
            run_id = next(self._ids)
            run = Run(
                run_id=run_id,
                run_name=str(payload.get("run_name") or "Untitled"),
                payload=payload,
                tasks=[TaskRun(next(self._ids), str(t.get("task_key", "task")), t) for t in tasks],
                run_page_url=f"{self.base_url}/?o=0#job/0/run/{run_id}",
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
        if run.process is not None and run.process.poll() is None:
            run.process.terminate()

    # ---- execution --------------------------------------------------------------------------
    def _execute(self, run: Run) -> None:
        failed = False
        for task in run.tasks:
            if run.cancel_requested or failed:
                task.life_cycle_state, task.result_state = "TERMINATED", "CANCELED" if not failed else "UPSTREAM_FAILED"
                task.state_message = "Run cancelled." if not failed else "An upstream task failed."
                task.end_time = now_ms()
                continue
            try:
                self._run_task(run, task)
            except Exception as exc:  # the emulator's own failure: reported like the service's
                task.life_cycle_state, task.result_state = "INTERNAL_ERROR", "FAILED"
                task.state_message = f"{type(exc).__name__}: {exc}"
                task.error = task.state_message
            task.end_time = now_ms()
            failed = task.result_state != "SUCCESS"
        run.end_time = now_ms()

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
        proc = subprocess.Popen(
            [str(python), str(script), *map(str, spark_task.get("parameters", []))],
            cwd=work,
            env=self._cluster_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        run.process = proc
        try:
            stdout, stderr = proc.communicate(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            stdout, stderr = proc.communicate()
            task.result_state, task.state_message = "TIMEDOUT", f"Run timed out after {timeout} seconds."
        task.logs = stdout + stderr
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
