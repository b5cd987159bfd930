"""The emulated Clusters API (``clusters/create``, ``get``, ``list``, ``delete``, ``permanent-delete``)
and the compute meter: every cluster a workspace launches -- created through the API, or the
``new_cluster`` of a one-time task run -- with the seconds it was billed.

A created cluster is ``PENDING`` for ``pending_seconds`` of real time, then ``RUNNING``; ``delete``
makes it ``TERMINATING`` then ``TERMINATED``; ``permanent-delete`` also removes it from ``list``. The
meter adds a simulated start time (``start_seconds``, the minutes a real cluster takes to come up)
to every launch on the emulator's clock instead of sleeping it, so a benchmark can compare compute
modes by clusters launched and cluster-seconds without waiting for them.
"""

from __future__ import annotations

import itertools
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from databricks_emulator.errors import ApiError

LIVE = {"PENDING", "RUNNING", "RESIZING", "RESTARTING"}


@dataclass
class Launch:
    """One cluster launch as the meter sees it."""

    cluster_id: str
    kind: str  # "created" (Clusters API), "task" (a task's new_cluster), "job_cluster" (a job run's)
    name: str  # cluster name, or the run name of the task run that launched it
    started: float  # time.time() of the launch
    ended: float | None = None
    tags: dict[str, str] = field(default_factory=dict)
    run_id: int | None = None  # a job cluster's job run
    key: str = ""  # a job cluster's job_cluster_key

    def seconds(self, start_seconds: float, now: float) -> float:
        """Billed seconds: the simulated start, then the time it was up."""
        return start_seconds + ((self.ended or now) - self.started)


@dataclass
class Cluster:
    cluster_id: str
    spec: dict[str, Any]
    created: float
    pending_seconds: float
    deleted: float | None = None
    permanently_deleted: bool = False

    def state(self, now: float) -> str:
        if self.deleted is not None:
            return "TERMINATED" if now - self.deleted >= 0.5 else "TERMINATING"
        return "RUNNING" if now - self.created >= self.pending_seconds else "PENDING"

    def describe(self, now: float) -> dict[str, Any]:
        state = self.state(now)
        out = {**self.spec, "cluster_id": self.cluster_id, "state": state, "start_time": int(self.created * 1000),
               "state_message": {"PENDING": "Starting Spark", "RUNNING": "", "TERMINATING": "Terminating",
                                 "TERMINATED": "Terminated by user"}[state]}  # fmt: skip
        if self.deleted is not None:
            out["terminated_time"] = int(self.deleted * 1000)
        return out


class Clusters:
    def __init__(self, start_seconds: float = 240.0, pending_seconds: float = 1.0) -> None:
        self.start_seconds = start_seconds
        self.pending_seconds = pending_seconds
        self.clusters: dict[str, Cluster] = {}
        self.launches: list[Launch] = []
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    def _new_id(self) -> str:
        return f"1202-{next(self._ids):06d}-emu{int(time.time()) % 1000:03d}"

    def create(self, spec: dict[str, Any]) -> str:
        for required in ("spark_version", "node_type_id"):
            if not spec.get(required):
                raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Missing required field: {required}")
        if "num_workers" not in spec and "autoscale" not in spec:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", "Missing required field: num_workers or autoscale")
        with self._lock:
            cluster_id = self._new_id()
            now = time.time()
            self.clusters[cluster_id] = Cluster(cluster_id, dict(spec), now, self.pending_seconds)
            self.launches.append(Launch(cluster_id, "created", str(spec.get("cluster_name", "")), now,
                                        tags=dict(spec.get("custom_tags") or {})))  # fmt: skip
        return cluster_id

    def get(self, cluster_id: str) -> Cluster:
        cluster = self.clusters.get(cluster_id)
        if cluster is None or cluster.permanently_deleted:
            raise ApiError(400, "INVALID_PARAMETER_VALUE", f"Cluster {cluster_id} does not exist")
        return cluster

    def delete(self, cluster_id: str, permanently: bool = False) -> None:
        with self._lock:
            cluster = self.get(cluster_id)
            if cluster.deleted is None:
                cluster.deleted = time.time()
                for launch in self.launches:
                    if launch.cluster_id == cluster_id and launch.ended is None:
                        launch.ended = cluster.deleted
            cluster.permanently_deleted = cluster.permanently_deleted or permanently

    def listed(self) -> list[dict[str, Any]]:
        now = time.time()
        return [c.describe(now) for c in self.clusters.values() if not c.permanently_deleted]

    def require_running(self, cluster_id: str) -> None:
        """A run on ``existing_cluster_id`` needs that cluster up (a real workspace would start a
        terminated one; here that is a caller's bug worth seeing)."""
        state = self.get(cluster_id).state(time.time())
        if state != "RUNNING":
            raise ApiError(400, "INVALID_STATE", f"Cluster {cluster_id} is in state {state}, not RUNNING")

    def task_cluster(self, run_name: str, spec: dict[str, Any]) -> Launch:
        """The cluster a one-time task's ``new_cluster`` launches (ended by the caller)."""
        with self._lock:
            launch = Launch(self._new_id(), "task", run_name, time.time(), tags=dict(spec.get("custom_tags") or {}))
            self.launches.append(launch)
        return launch

    def job_cluster(self, run_id: int, run_name: str, key: str, spec: dict[str, Any]) -> Launch:
        """The job cluster ``key`` of job run ``run_id``: launched by the first task that needs it,
        shared by the run's other tasks, ended with the run (:meth:`end_job_clusters`)."""
        with self._lock:
            for launch in self.launches:
                if (
                    launch.kind == "job_cluster"
                    and launch.run_id == run_id
                    and launch.key == key
                    and launch.ended is None
                ):
                    return launch
            launch = Launch(self._new_id(), "job_cluster", run_name, time.time(),
                            tags=dict(spec.get("custom_tags") or {}), run_id=run_id, key=key)  # fmt: skip
            self.launches.append(launch)
        return launch

    def end_job_clusters(self, run_id: int) -> None:
        with self._lock:
            for launch in self.launches:
                if launch.kind == "job_cluster" and launch.run_id == run_id and launch.ended is None:
                    launch.ended = time.time()

    def meter(self) -> dict[str, Any]:
        now = time.time()
        return {
            "start_seconds": self.start_seconds,
            "launches": [
                {"cluster_id": x.cluster_id, "kind": x.kind, "name": x.name, "tags": x.tags, "run_id": x.run_id,
                 "running": x.ended is None, "seconds": round(x.seconds(self.start_seconds, now), 3)}
                for x in self.launches
            ],
        }  # fmt: skip
