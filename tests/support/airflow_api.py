"""A small client for the Airflow 3 REST API (/api/v2) -- the API the UI itself uses."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

import httpx

FINISHED = {"success", "failed"}
T = TypeVar("T")


@dataclass
class AirflowApi:
    base_url: str
    username: str
    password: str
    _client: httpx.Client = field(init=False)

    def __post_init__(self) -> None:
        self._client = httpx.Client(base_url=self.base_url, timeout=60)
        self._client.headers["Authorization"] = f"Bearer {self.token()}"

    def token(self) -> str:
        """A JWT from the simple auth manager's login endpoint (as the UI's login form obtains it)."""
        resp = self._client.post("/auth/token", json={"username": self.username, "password": self.password})
        resp.raise_for_status()
        return resp.json()["access_token"]

    def call(self, method: str, path: str, **kw: Any) -> Any:
        resp = self._client.request(method, f"/api/v2{path}", **kw)
        if resp.status_code >= 400:
            raise AssertionError(f"{method} {path} -> {resp.status_code}: {resp.text[:2000]}")
        return resp.json() if resp.content else None

    def dag(self, dag_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}")

    def wait_for_dag(self, dag_id: str, timeout: float = 180) -> dict:
        """The DAG once the DAG processor has parsed it (import errors fail fast)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            resp = self._client.get(f"/api/v2/dags/{dag_id}")
            if resp.status_code == 200:
                return resp.json()
            errors = self.call("GET", "/importErrors")["import_errors"]
            if errors:
                raise AssertionError(f"DAG import errors: {errors}")
            time.sleep(2)
        raise AssertionError(f"{dag_id} not parsed within {timeout}s")

    def set_paused(self, dag_id: str, paused: bool) -> None:
        self.call("PATCH", f"/dags/{dag_id}", json={"is_paused": paused})

    def trigger(self, dag_id: str, logical_date: str, conf: dict | None = None) -> dict:
        return self.call("POST", f"/dags/{dag_id}/dagRuns", json={"logical_date": logical_date, "conf": conf or {}})

    def run(self, dag_id: str, run_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}")

    def runs(self, dag_id: str, run_type: str | None = None) -> list[dict]:
        params = {"limit": 100, "order_by": "logical_date", **({"run_type": run_type} if run_type else {})}
        return self.call("GET", f"/dags/{dag_id}/dagRuns", params=params)["dag_runs"]

    def wait_for_run(self, dag_id: str, run_id: str, timeout: float = 1200) -> dict:
        """The run once it is success or failed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(dag_id, run_id)
            if run["state"] in FINISHED:
                return run
            time.sleep(3)
        raise AssertionError(f"{run_id} not finished within {timeout}s: {self.task_states(dag_id, run_id)}")

    def task_states(self, dag_id: str, run_id: str) -> dict[str, str | None]:
        tis = self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances", params={"limit": 1000})
        return {ti["task_id"]: ti["state"] for ti in tis["task_instances"]}

    def task_instance(self, dag_id: str, run_id: str, task_id: str) -> dict:
        return self.call("GET", f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}")

    def task_log(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        path = f"/dags/{dag_id}/dagRuns/{run_id}/taskInstances/{task_id}/logs/{try_number}"
        body = self.call("GET", path, params={"full_content": True}, headers={"Accept": "application/json"})
        content = body.get("content", "")
        if isinstance(content, list):  # structured lines: the event plus fields such as error_detail
            return "\n".join(json.dumps(line) if isinstance(line, dict) else str(line) for line in content)
        return str(content)

    def clear_task(self, dag_id: str, run_id: str, task_id: str) -> list[dict]:
        """Clear one task and its downstream in one run -- the grid view's "Clear" on a task."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": [task_id],
            "include_downstream": True,
            "only_failed": False,
            "reset_dag_runs": True,  # the run goes back to queued in the same transaction
        }
        return self.call("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)["task_instances"]

    def clear_failed(self, dag_id: str, run_id: str) -> list[dict]:
        """Clear every failed (and upstream-failed) task of one run -- the grid's "Clear failed"."""
        body = {"dry_run": False, "dag_run_id": run_id, "only_failed": True, "reset_dag_runs": True}
        return self.call("POST", f"/dags/{dag_id}/clearTaskInstances", json=body)["task_instances"]

    def health(self) -> dict:
        return self.call("GET", "/monitor/health")

    def poll(self, read: Callable[[], T], done: Callable[[T], bool], what: str, timeout: float = 900) -> T:
        """``read()`` until ``done``; errors (the API or its database restarting) are waited out."""
        deadline, last = time.monotonic() + timeout, None
        while time.monotonic() < deadline:
            try:
                value = read()
                if done(value):
                    return value
                last = value
            except (httpx.HTTPError, AssertionError) as exc:
                last = exc
            time.sleep(2)
        raise AssertionError(f"{what} not within {timeout}s; last seen: {last}")

    def backfill(self, dag_id: str, from_date: str, to_date: str, conf: dict | None = None) -> dict:
        body = {
            "dag_id": dag_id,
            "from_date": from_date,
            "to_date": to_date,
            "dag_run_conf": conf or {},
            "max_active_runs": 1,
            "reprocess_behavior": "none",
        }
        return self.call("POST", "/backfills", json=body)

    def wait_for_backfill(self, backfill_id: int, timeout: float = 120) -> dict:
        """The backfill once the scheduler has marked it completed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            backfill = self.call("GET", f"/backfills/{backfill_id}")
            if backfill["completed_at"]:
                return backfill
            time.sleep(2)
        raise AssertionError(f"backfill {backfill_id} not completed within {timeout}s")

    def set_backfill_paused(self, backfill_id: int, paused: bool) -> dict:
        return self.call("PUT", f"/backfills/{backfill_id}/{'pause' if paused else 'unpause'}")
