"""The emulated Jobs service's records: runs and task runs with their states, and the rules of a
task graph (dependency order, ``run_if``)."""

from __future__ import annotations

import re
import subprocess
import time
from dataclasses import dataclass, field
from typing import Any

from databricks_emulator.errors import ApiError
from databricks_emulator.references import time_values

TASK_SETTINGS = (
    "spark_python_task", "libraries", "new_cluster", "job_cluster_key", "environment_key", "existing_cluster_id",
    "timeout_seconds", "depends_on", "run_if", "max_retries",
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
    prior_attempts: int = 0  # attempts of the same task key in earlier task runs (a repair re-runs it)
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

    @property
    def attempts(self) -> int:
        """Attempts of this task key in the run so far (``{{task.execution_count}}``)."""
        return self.prior_attempts + self.execution_count

    def describe(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "task_key": self.task_key,
            "attempt_number": max(self.attempts - 1, 0),
            "state": self.state(),
            "start_time": self.start_time,
            "end_time": self.end_time,
            **{k: self.spec[k] for k in TASK_SETTINGS if k in self.spec},
        }


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
    repairs: list[dict[str, Any]] = field(default_factory=list)  # runs/repair history, oldest first

    def task(self, key: str) -> TaskRun:
        """The latest task run of ``key`` (a repair adds a newer one)."""
        return [t for t in self.tasks if t.task_key == key][-1]

    def latest(self) -> list[TaskRun]:
        """The latest task run of every task key, in the graph's order."""
        keys = list(dict.fromkeys(t.task_key for t in self.tasks))
        return [self.task(k) for k in keys]

    def references(self, task: TaskRun, base_url: str) -> dict[str, str]:
        """The dynamic values a task sees when it starts."""
        values = {
            "job.id": str(self.job_id or ""),
            "job.name": self.job_name or self.run_name,
            "job.run_id": str(self.run_id),
            "job.repair_count": str(len(self.repairs)),
            "job.trigger.type": self.trigger_type.lower(),
            "task.name": task.task_key,
            "task.run_id": str(task.run_id),
            "task.execution_count": str(task.attempts),
            "workspace.id": "0",
            "workspace.url": base_url,
            **time_values("job.start_time", self.start_time),
            **time_values("job.trigger.time", self.start_time),
            **{f"job.parameters.{k}": v for k, v in self.job_parameters.items()},
        }
        for other in self.latest():
            if other.life_cycle_state in TERMINAL:
                prefix = f"tasks.{other.task_key}"
                values[f"{prefix}.run_id"] = str(other.run_id)
                values[f"{prefix}.result_state"] = (other.result_state or "").lower()
                values[f"{prefix}.execution_count"] = str(other.attempts)
                values[f"{prefix}.error_code"] = "" if other.result_state == "SUCCESS" else (other.result_state or "")
        return values

    @property
    def life_cycle_state(self) -> str:
        states = [t.life_cycle_state for t in self.latest()]
        if all(s in TERMINAL for s in states):  # ended once its job clusters have (end_time set after them)
            return "TERMINATED" if self.end_time else "TERMINATING"
        return "RUNNING" if any(s != "PENDING" for s in states) else "PENDING"

    def result_state(self) -> str | None:
        if self.life_cycle_state != "TERMINATED":
            return None
        results = [t.result_state for t in self.latest()]
        for bad in ("CANCELED", "TIMEDOUT", "FAILED", "UPSTREAM_FAILED"):
            if bad in results:
                return bad
        return "SUCCESS"

    def describe(self, include_history: bool = False) -> dict[str, Any]:
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
            "tasks": [t.describe() for t in self.tasks],  # every task run, a repair's too
            **({"repair_history": self.repair_history()} if include_history else {}),
        }

    def repair_history(self) -> list[dict[str, Any]]:
        original = {"type": "ORIGINAL", "start_time": self.start_time, "id": self.run_id}
        return [original, *({"type": "REPAIR", **r} for r in self.repairs)]

    def state_message(self) -> str:
        for task in self.latest():
            if task.result_state not in (None, "SUCCESS"):
                return task.state_message
        return next((t.state_message for t in self.latest() if t.life_cycle_state == "RUNNING"), "")


def error_of(stderr: str, returncode: int) -> tuple[str, str]:
    """(error, error_trace) of a failed Python task, as get-output reports them: the exception line."""
    lines = [line.strip() for line in stderr.splitlines() if line.strip()]
    for line in reversed(lines):
        if match := ERROR_LINE.match(line):
            return f"{match.group(1).rsplit('.', 1)[-1]}: {match.group(3)}", "\n".join(lines[-40:])
    return f"the Python process exited with code {returncode}", "\n".join(lines[-40:])


def topological(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
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


def blocked(run_if: str, upstream: list[str | None]) -> str | None:
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


def repair_keys(run: Run, body: dict[str, Any]) -> list[str]:
    """The task keys a ``runs/repair`` request re-runs, after the service's checks: a finished job
    run, ``latest_repair_id`` naming its latest repair (after the first), known keys; with
    ``rerun_dependent_tasks`` their dependents too, transitively."""
    if run.job_id is None:
        raise ApiError(
            400, "INVALID_PARAMETER_VALUE", f"Run {run.run_id} is a one-time run: only job runs can be repaired"
        )
    if run.life_cycle_state != "TERMINATED":
        raise ApiError(
            400, "INVALID_STATE", f"Run {run.run_id} is {run.life_cycle_state}: only a finished run can be repaired"
        )
    latest = run.repairs[-1]["id"] if run.repairs else None
    if latest is not None and str(body.get("latest_repair_id") or "") != str(latest):
        raise ApiError(400, "INVALID_PARAMETER_VALUE",
                       f"latest_repair_id must be the run's latest repair ({latest}) to repair it again")  # fmt: skip
    current = {t.task_key: t for t in run.latest()}
    if body.get("rerun_all_failed_tasks"):
        keys = {k for k, t in current.items() if t.result_state not in (None, "SUCCESS")}
    else:
        keys = {str(k) for k in body.get("rerun_tasks") or []}
    unknown = sorted(keys - set(current))
    if unknown or not keys:
        raise ApiError(
            400, "INVALID_PARAMETER_VALUE", f"rerun_tasks: unknown or no task keys {unknown or sorted(keys)}"
        )
    changed = bool(body.get("rerun_dependent_tasks"))
    while changed:
        changed = False
        for key, task in current.items():
            if key not in keys and set(task.depends_on) & keys:
                keys.add(key)
                changed = True
    return sorted(keys)
