"""The DAG's Spark tasks on a real Spark standalone cluster (scripts/localcluster.sh: a master and two
one-core workers, each its own JVM) with a Spark Connect server as the cluster's driver, and one
worker killed (SIGKILL, with its executor) while silver ``orders`` MERGEs: Spark reschedules the
lost tasks, the job succeeds on its only try, and every table equals the ``local[2]`` run of the
same source data (the shared ``first`` run, through ``airflow dags test``).

The run is the DAG's bronze and silver tasks for ``customers`` and ``orders`` (the ``tables`` param:
``orders``' foreign key needs ``customers``), run as ``support.inprocess`` runs them (same specs,
same rendered arguments, DAG order) in one process of their own: the cluster is about where Spark
executes them, and after the kill a single one-core executor is left, so the whole DAG would cost
the suite ~15 minutes for nothing the subset does not show (the whole DAG on the cluster through
``airflow dags test`` is ``make cluster && make demo``; the Airflow side of the same tasks is what
the other integration suites run). One run serves every test of the module."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from support import kernel
from support.dagrun import DATE, LOAD_STAMPS, PER_RUN, pipeline_dir, rows
from support.env import ROOT, free_port, port_is_free, sh

DAG = "inventory_lakehouse_cluster"  # own dag id: its audit rows name it, not the shared run's
WORKERS = 2
MERGE_TABLE = "orders"  # its silver MERGE is slowed (20 ms a row) so the kill lands inside it
TABLES = ("customers", MERGE_TABLE)  # orders' foreign key is checked against silver customers
LAYERS = ("bronze", "silver")
pytestmark = pytest.mark.timeout(1800)


def _ports(count: int) -> int:
    """A base port p with p and p+3 .. p+3+count free (the cluster script's layout)."""
    while True:
        base = free_port(below=60000)
        if all(port_is_free(base + 3 + n) for n in range(count + 1)):
            return base


def _is_silver_merge(job: dict) -> bool:
    """A Spark job of silver ``orders``' MERGE: Delta names the MERGE phase in the description, the
    job's Connect session carries the job's tag (spark_jobs.runtime.session: ``silver-<table>``)."""
    tagged = any(t.endswith(f"_Tag_silver-{MERGE_TABLE}") for t in job.get("jobTags", []))
    return tagged and "MERGE operation" in job.get("description", "")


def _get(url: str):
    with urllib.request.urlopen(url, timeout=30) as resp:
        return json.load(resp)


@dataclass
class Cluster:
    env: dict[str, str]
    master_ui: str
    driver_ui: str
    worker_uis: list[str]
    kills: list[dict] = field(default_factory=list)

    def app(self) -> str:
        return f"{self.driver_ui}/api/v1/applications/{_get(f'{self.driver_ui}/api/v1/applications')[0]['id']}"

    def kill_worker_during_merge(self, stop: threading.Event, timeout: float = 900) -> None:
        """Wait for silver ``orders``' MERGE to run tasks, then SIGKILL the worker hosting one of them."""
        deadline = time.monotonic() + timeout
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                app = self.app()
                for job in _get(f"{app}/jobs?status=running"):
                    if not _is_silver_merge(job):
                        continue
                    for stage in _get(f"{app}/stages?status=active"):
                        if stage["stageId"] not in job["stageIds"]:
                            continue
                        running = _get(f"{app}/stages/{stage['stageId']}/{stage['attemptId']}/taskList?status=RUNNING")
                        executors = {t["executorId"] for t in running}
                        for n, ui in enumerate(self.worker_uis, start=1):
                            hosted = {str(e["id"]) for e in _get(f"{ui}/json/")["executors"]}
                            if hosted & executors:
                                sh(["scripts/localcluster.sh", "kill-worker", str(n)], env=self.env)
                                kill = {"worker": n, "executors": sorted(hosted), "job": job["jobId"],
                                        "stage": stage["stageId"], "tasks": len(running)}  # fmt: skip
                                self.kills.append(kill)
                                try:  # one kill only, whatever happens next
                                    kill["merges"] = self._merges_after(app, job["jobId"])
                                except (OSError, AssertionError) as exc:
                                    kill["merges"] = [{"jobId": None, "error": repr(exc)}]
                                return
            except OSError:  # the driver's UI is not up yet
                pass
            time.sleep(0.3)

    @staticmethod
    def _merges_after(app: str, first: int, timeout: float = 900) -> list[dict]:
        """The MERGE jobs of silver ``orders`` from job ``first`` on, once none of them runs any
        more (read as they end: the UI keeps only the last 1,000 jobs of a whole DAG's run)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            jobs = [j for j in _get(f"{app}/jobs") if _is_silver_merge(j) and j["jobId"] >= first]
            if jobs and all(j["status"] != "RUNNING" for j in jobs):
                time.sleep(5)  # a retried MERGE starts its next job within moments
                again = [j for j in _get(f"{app}/jobs") if _is_silver_merge(j) and j["jobId"] >= first]
                if len(again) == len(jobs) and all(j["status"] != "RUNNING" for j in again):
                    return sorted(again, key=lambda j: j["jobId"])
            time.sleep(1)
        raise AssertionError(f"silver {MERGE_TABLE}'s MERGE jobs still running after {timeout} s")


@pytest.fixture(scope="module")
def cluster(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory):
    """Master + two workers, and a second Spark Connect server (the cluster's driver, UI on)."""
    state = tmp_path_factory.mktemp("cluster-state")
    base, connect, ui = _ports(WORKERS), free_port(), free_port()
    env = {
        **stack,
        "LAKEHOUSE_CLUSTER_STATE": str(state / "cluster"),
        "LAKEHOUSE_SPARK_STATE": str(state / "connect"),
        "LAKEHOUSE_CLUSTER_PORT": str(base),
        "LAKEHOUSE_CLUSTER_WORKERS": str(WORKERS),
        "LAKEHOUSE_SPARK_MASTER": f"spark://127.0.0.1:{base}",
        "LAKEHOUSE_SPARK_PORT": str(connect),
        "LAKEHOUSE_SPARK_UI_PORT": str(ui),
        "LAKEHOUSE_SPARK_MEMORY": "2g",
    }
    try:
        sh("scripts/localcluster.sh up", env=env)
        sh("scripts/localspark.sh up", env=env)
        yield Cluster(
            {**env, "LAKEHOUSE_SPARK_REMOTE": f"sc://127.0.0.1:{connect}"},
            master_ui=f"http://127.0.0.1:{base + 3}",
            driver_ui=f"http://127.0.0.1:{ui}",
            worker_uis=[f"http://127.0.0.1:{base + 3 + n}" for n in range(1, WORKERS + 1)],
        )
    finally:
        sh("scripts/localspark.sh down", env=env, check=False)
        sh("scripts/localcluster.sh down", env=env, check=False)


@dataclass
class ClusterRun:
    lake: Path
    output: str
    returncode: int
    executors: list[dict]
    master: dict


@pytest.fixture(scope="module")
def cluster_run(cluster: Cluster, tmp_path_factory: pytest.TempPathFactory) -> ClusterRun:
    tmp = tmp_path_factory.mktemp("cluster-run")
    pipelines = pipeline_dir(tmp, "inventory", lambda raw: raw.update(dag_id=DAG))  # retries: 0
    stop = threading.Event()
    killer = threading.Thread(target=cluster.kill_worker_during_merge, args=(stop,), daemon=True)
    killer.start()
    env = {**cluster.env, "LAKEHOUSE_INJECT_FAULT": f"silver:{MERGE_TABLE}:slow",
           "PYTHONPATH": f"{ROOT / 'tests'}:{cluster.env.get('PYTHONPATH', '')}"}  # fmt: skip
    try:
        # the selected Spark tasks of the DAG, in DAG order, with the arguments Airflow renders, in
        # one process (support.inprocess): the Spark work is the DAG's, without a spark-submit each
        result = sh(["python", "-m", "support.run_pipeline_main", str(pipelines), str(tmp / "lake"), DATE,
                     f"manual__{DATE}T00:00:00+00:00", ",".join(TABLES), ",".join(LAYERS)],
                    env=env, check=False, timeout=1500)  # fmt: skip
    finally:
        stop.set()
        killer.join(timeout=30)
    app = cluster.app()
    return ClusterRun(tmp / "lake", result.stdout + result.stderr, result.returncode,
                      _get(f"{app}/allexecutors"), _get(f"{cluster.master_ui}/json/"))  # fmt: skip


def test_the_tables_on_the_cluster_equal_the_local_run(cluster_run: ClusterRun, first, spark) -> None:
    assert cluster_run.returncode == 0, cluster_run.output[-4000:]
    # every bronze and silver table of the selection equals the local[2] run of the same source data
    written = sorted(f"{p.parent.name}/{p.name}" for p in kernel.delta_tables(cluster_run.lake))
    assert written == sorted(
        [f"inventory_bronze/{n}" for n in ("bz_audit_log", "bz_watermarks", *(f"bz_{t}" for t in TABLES))]
        + [f"inventory_silver/{n}" for n in ("dq_results", *TABLES, *(f"{t}_quarantine" for t in TABLES))]
    ), written
    for table in (f"inventory_bronze/bz_{t}" for t in TABLES), (f"inventory_silver/{t}" for t in TABLES):
        for name in table:
            ours = rows(spark, cluster_run.lake / name, PER_RUN | LOAD_STAMPS)
            assert ours and ours == rows(spark, first.lake / name, PER_RUN | LOAD_STAMPS), name


def test_the_jobs_ran_on_executors_in_the_workers_jvms(cluster_run: ClusterRun) -> None:
    executors = [e for e in cluster_run.executors if e["id"] != "driver"]
    assert len(executors) == WORKERS  # one per worker (one core each); none was added after the kill
    assert all(e["totalTasks"] > 0 for e in executors), executors  # both did work
    # the master saw the application on both workers, and lost one
    states = sorted(w["state"] for w in cluster_run.master["workers"])
    assert states in (["ALIVE", "DEAD"], ["ALIVE"]), states  # a dead worker is listed until it times out
    assert sum(w["state"] == "ALIVE" for w in cluster_run.master["workers"]) == 1


def test_a_worker_killed_during_the_merge_loses_nothing(cluster: Cluster, cluster_run: ClusterRun) -> None:
    (kill,) = cluster.kills  # the kill landed while the MERGE had tasks running on that worker
    assert kill["tasks"] >= 1
    lost = [e for e in cluster_run.executors if e["id"] in kill["executors"]]
    assert lost and not any(e["isActive"] for e in lost), lost
    assert all(e.get("removeReason") for e in lost)
    # the lost work was done again: the MERGE job that had tasks running on the killed executor
    # succeeded (they ran again on the surviving one: a job cannot succeed with tasks missing) or,
    # when its materialized source went with the executor, Delta ran the MERGE again
    # (merge.materializeSource.maxAttempts) and that later MERGE job succeeded. (The job's
    # numFailedTasks stays 0 for tasks lost with their executor: seen in the first run.)
    job, *later = kill["merges"]
    assert job["jobId"] == kill["job"], kill
    if job["status"] != "SUCCEEDED":
        assert later and later[-1]["status"] == "SUCCEEDED", (job, later)
    # ...and the job succeeded on its only try
    assert cluster_run.returncode == 0, cluster_run.output[-4000:]
