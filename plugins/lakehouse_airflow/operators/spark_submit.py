"""Operators built on the provider's SparkSubmitOperator (secrets by reference, upstream states)."""

from __future__ import annotations

from typing import Any

from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator
from airflow.sdk import Context

from lakehouse_airflow.build.params import skip_unless_selected
from lakehouse_airflow.operators.assets import record_commits
from lakehouse_airflow.operators.secrets import jdbc_env, object_store_env, pii_key_env
from lakehouse_contract.run import UPSTREAM_STATES


def upstream_states(chain: tuple[str, ...], context: Context) -> str:
    """``step=state,...`` of the task's upstream chain (full task ids, first step first), as the
    audit job reads them."""
    ti = context["ti"]
    found = ti.get_task_states(dag_id=ti.dag_id, task_ids=list(chain), run_ids=[ti.run_id])
    states = found.get(ti.run_id, {})
    return ",".join(f"{t.rsplit('.', 1)[-1]}={states.get(t, 'unknown')}" for t in chain)


class LakehouseSparkSubmitOperator(SparkSubmitOperator):
    """SparkSubmitOperator that resolves secrets at execute time (after templates are rendered,
    so they never reach the rendered-template view) and can pass upstream task states to its job."""

    def __init__(
        self,
        *,
        source_conn_id: str | None = None,
        pii_key_conn_id: str | None = None,
        storage_conn_id: str | None = None,
        upstream_chain: tuple[str, ...] = (),
        lakehouse_tables: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lakehouse_tables = lakehouse_tables
        self.source_conn_id = source_conn_id
        self.pii_key_conn_id = pii_key_conn_id
        self.storage_conn_id = storage_conn_id
        self.upstream_chain = tuple(upstream_chain)

    def execute(self, context: Context) -> None:
        skip_unless_selected(context, self.lakehouse_tables)
        if self.source_conn_id:
            self.env_vars = {**(self.env_vars or {}), **jdbc_env(self.source_conn_id)}
        if self.pii_key_conn_id:
            self.env_vars = {**(self.env_vars or {}), **pii_key_env(self.pii_key_conn_id)}
        if self.storage_conn_id:
            self.env_vars = {**(self.env_vars or {}), **object_store_env(self.storage_conn_id)}
        if self.upstream_chain:
            states = upstream_states(self.upstream_chain, context)
            self.application_args = [*(self.application_args or []), UPSTREAM_STATES, states]
        super().execute(context)
        record_commits(context, self.outlets)
