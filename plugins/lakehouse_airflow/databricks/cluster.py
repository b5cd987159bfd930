"""``compute: shared_cluster``: one Databricks cluster per DAG run, created by a setup task and
deleted by a teardown task whatever happened (Airflow setup/teardown), every Spark task of the run
submitted onto it with ``existing_cluster_id``.

Databricks refuses shared ``job_clusters`` in one-time ``runs/submit``, so the run's cluster is an
all-purpose cluster made through the Clusters API. Its name is derived from (dag id, run id): a
retried or re-cleared setup finds the run's live cluster by name and reuses it instead of launching
a second one; the teardown finds it the same way, so it also cleans up after a setup that died
between creating the cluster and recording its id. ``autotermination_minutes`` is the safety net if
the teardown itself never runs (the scheduler gone).
"""

from __future__ import annotations

import hashlib
import re
import time
from typing import Any

from airflow.providers.databricks.hooks.databricks import DatabricksHook
from airflow.sdk import BaseOperator, Context

CREATE_TASK_ID = "create_cluster"
DELETE_TASK_ID = "delete_cluster"
LIVE = {"PENDING", "RUNNING", "RESIZING", "RESTARTING"}
CREATE = ("POST", "2.1/clusters/create")
LIST = ("GET", "2.1/clusters/list")
PERMANENT_DELETE = ("POST", "2.1/clusters/permanent-delete")


def cluster_name(dag_id: str, run_id: str) -> str:
    """Stable per DAG run, readable, within the API's 100 characters."""
    digest = hashlib.sha256(f"{dag_id}\x1f{run_id}".encode()).hexdigest()[:12]
    readable = re.sub(r"[^A-Za-z0-9_.-]+", "-", f"{dag_id}.{run_id}")[:80]
    return f"{readable}.{digest}"


def _live_cluster(hook: DatabricksHook, name: str) -> str | None:
    listed = hook._do_api_call(LIST, {}).get("clusters", [])
    return next((c["cluster_id"] for c in listed if c.get("cluster_name") == name and c.get("state") in LIVE), None)


class CreateRunClusterOperator(BaseOperator):
    """Setup: the DAG run's cluster, RUNNING; its id is the task's XCom."""

    def __init__(
        self, *, databricks_conn_id: str, cluster: dict[str, Any], autotermination_minutes: int,
        poll_seconds: float = 5.0, start_timeout_seconds: int = 1800, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id
        self.cluster = cluster
        self.autotermination_minutes = autotermination_minutes
        self.poll_seconds = poll_seconds
        self.start_timeout_seconds = start_timeout_seconds

    def execute(self, context: Context) -> str:
        ti = context["ti"]
        hook = DatabricksHook(self.databricks_conn_id)
        name = cluster_name(ti.dag_id, ti.run_id)
        cluster_id = _live_cluster(hook, name)
        if cluster_id:
            self.log.info("reusing this run's cluster %s (%s)", cluster_id, name)
        else:
            spec = {
                **self.cluster,
                "cluster_name": name,
                "autotermination_minutes": self.autotermination_minutes,
                "custom_tags": {**self.cluster.get("custom_tags", {}), "airflow_dag_id": ti.dag_id},
            }
            cluster_id = hook._do_api_call(CREATE, spec)["cluster_id"]
            self.log.info("created cluster %s (%s)", cluster_id, name)
        deadline = time.monotonic() + self.start_timeout_seconds
        while True:
            state = hook.get_cluster_state(cluster_id)
            if state.is_running:
                return str(cluster_id)
            if state.is_terminal:
                raise RuntimeError(f"cluster {cluster_id} ended before it ran: {state.state} {state.state_message}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"cluster {cluster_id} not running after {self.start_timeout_seconds} s")
            time.sleep(self.poll_seconds)


class DeleteRunClusterOperator(BaseOperator):
    """Teardown: permanently delete the DAG run's cluster (by the setup's XCom, else by name)."""

    def __init__(self, *, databricks_conn_id: str, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.databricks_conn_id = databricks_conn_id

    def execute(self, context: Context) -> None:
        ti = context["ti"]
        hook = DatabricksHook(self.databricks_conn_id)
        cluster_id = ti.xcom_pull(task_ids=CREATE_TASK_ID) or _live_cluster(hook, cluster_name(ti.dag_id, ti.run_id))
        if not cluster_id:
            self.log.info("no cluster to delete for this run")
            return
        hook._do_api_call(PERMANENT_DELETE, {"cluster_id": cluster_id})
        self.log.info("deleted cluster %s", cluster_id)
