"""The provider's DatabricksSubmitRunOperator with the lakehouse's run-time additions."""

from __future__ import annotations

from typing import Any

from airflow.providers.databricks.hooks.databricks import RunState
from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.sdk import Context

from lakehouse_airflow.build.params import skip_unless_selected
from lakehouse_airflow.databricks.payload import idempotency_token
from lakehouse_airflow.operators.assets import record_commits
from lakehouse_airflow.operators.spark_submit import upstream_states
from lakehouse_contract.run import UPSTREAM_STATES

MAX_GENERATIONS = 100


class LakehouseDatabricksSubmitRunOperator(DatabricksSubmitRunOperator):
    """Adds, at execute time: the self-skip of unselected tables, the upstream states the audit job
    needs, and exactly-one-active-run submission.

    Every try of a task in a DAG run submits with an idempotency token derived from (dag id, task
    id, run id), so a retry after a lost worker or connection re-attaches to the run that is still
    going instead of launching a second one. The service keeps answering a token with its run
    after that run has ended, so once it is terminal (a failure being retried, or a task cleared
    to run again) the operator moves to the token's next generation and submits a fresh run.
    Secrets are references in the payload (``dbsecrets:<scope>``), never values."""

    def __init__(
        self, *, lakehouse_tables: tuple[str, ...] = (), upstream_chain: tuple[str, ...] = (),
        cluster_task_id: str | None = None, **kwargs: Any,
    ) -> None:  # fmt: skip
        super().__init__(**kwargs)
        self.lakehouse_tables = lakehouse_tables
        self.upstream_chain = tuple(upstream_chain)
        self.cluster_task_id = cluster_task_id  # shared_cluster: the setup task whose XCom is the cluster id

    def execute(self, context: Context) -> Any:
        skip_unless_selected(context, self.lakehouse_tables)
        if self.cluster_task_id:
            cluster_id = context["ti"].xcom_pull(task_ids=self.cluster_task_id)
            if not cluster_id:
                raise RuntimeError(
                    f"no cluster for this run: the setup task {self.cluster_task_id!r} has not run in this DAG run "
                    "(clear the task together with its setup, or run the whole DAG)"
                )
            on_cluster: dict[str, Any] = dict(self.json or {})
            on_cluster["tasks"] = [{**t, "existing_cluster_id": str(cluster_id)} for t in on_cluster["tasks"]]
            self.json = on_cluster
        if self.upstream_chain:
            states = upstream_states(self.upstream_chain, context)
            payload: dict[str, Any] = dict(self.json or {})
            payload["tasks"] = [dict(t) for t in payload["tasks"]]
            task = payload["tasks"][0]
            task["spark_python_task"] = {
                **task["spark_python_task"],
                "parameters": [*task["spark_python_task"]["parameters"], UPSTREAM_STATES, states],
            }
            self.json = payload
        result = super().execute(context)
        record_commits(context, self.outlets)
        return result

    def submit_job(self, context: Context) -> int:
        payload = self._prepare_submit_json(context)
        ti = context["ti"]
        for generation in range(MAX_GENERATIONS):
            payload["idempotency_token"] = idempotency_token(ti.dag_id, ti.task_id, ti.run_id, generation)
            self.run_id = self._hook.submit_run(payload)
            state = RunState(**self._hook.get_run(self.run_id)["state"])
            if not state.is_terminal:
                break
            self.log.info(
                "Databricks run %s of an earlier try has ended (%s); submitting a new run", self.run_id, state
            )
        else:
            raise RuntimeError(f"{MAX_GENERATIONS} finished Databricks runs for {ti.task_id} in {ti.run_id}")
        self.log.info(
            "Run %s (idempotency token generation %d): %s",
            self.run_id,
            generation,
            self._hook.get_run_page_url(self.run_id),
        )
        return self.run_id
