"""Operators built on the provider's SparkSubmitOperator (secrets by reference, upstream states)."""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import BaseHook, Context
from airflow.sdk.exceptions import AirflowFailException

from lakehouse_airflow.params import skip_unless_selected
from lakehouse_airflow.specs import JDBC_SECRET_PREFIX, PII_KEY_ENV


def jdbc_env(conn_id: str) -> dict[str, str]:
    """JDBC URL/user/password of an Airflow connection as the job's secret environment."""
    conn = BaseHook.get_connection(conn_id)
    port = conn.port or 5432
    return {
        f"{JDBC_SECRET_PREFIX}_URL": f"jdbc:postgresql://{conn.host}:{port}/{conn.schema}",
        f"{JDBC_SECRET_PREFIX}_USER": conn.login or "",
        f"{JDBC_SECRET_PREFIX}_PASSWORD": conn.password or "",
    }


def pii_key_env(conn_id: str) -> dict[str, str]:
    """The PII hashing key (the connection's password) as the job's secret environment."""
    conn = BaseHook.get_connection(conn_id)
    if not conn.password:
        raise AirflowFailException(f"connection {conn_id!r} has no password; it must hold the PII hashing key")
    return {PII_KEY_ENV: conn.password}


class LakehouseSparkSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator that resolves secrets at execute time (after templates are rendered,
    so they never reach the rendered-template view) and can pass upstream task states to its job."""

    def __init__(
        self,
        *,
        source_conn_id: str | None = None,
        pii_key_conn_id: str | None = None,
        collect_upstream_states: bool = False,
        lakehouse_tables: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lakehouse_tables = lakehouse_tables
        self.source_conn_id = source_conn_id
        self.pii_key_conn_id = pii_key_conn_id
        self.collect_upstream_states = collect_upstream_states

    def execute(self, context: Context) -> None:
        skip_unless_selected(context, self.lakehouse_tables)
        if self.source_conn_id:
            self.env_vars = {**(self.env_vars or {}), **jdbc_env(self.source_conn_id)}
        if self.pii_key_conn_id:
            self.env_vars = {**(self.env_vars or {}), **pii_key_env(self.pii_key_conn_id)}
        if self.collect_upstream_states:
            self.application_args = [
                *(self.application_args or []),
                "--upstream-states",
                upstream_states(self, context),
            ]
        super().execute(context)


def upstream_states(task: Any, context: Context) -> str:  # noqa: ANN401
    """``step=state,...`` of the task's upstream chain in its group, for the audit job."""
    ti = context["ti"]
    chain = _topological(task)
    found = ti.get_task_states(dag_id=ti.dag_id, task_ids=chain, run_ids=[ti.run_id])
    states = found.get(ti.run_id, {})
    return ",".join(f"{t.rsplit('.', 1)[-1]}={states.get(t, 'unknown')}" for t in chain)


def _topological(task: Any) -> list[str]:
    """Upstream task ids of the same group, farthest first (validate -> extract -> write)."""
    chain: list[str] = []
    current = [t for t in task.upstream_list if t.task_group is task.task_group]
    while current:
        t = current[0]
        chain.insert(0, t.task_id)
        current = [u for u in t.upstream_list if u.task_group is task.task_group]
    return chain
