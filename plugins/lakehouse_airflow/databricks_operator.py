"""The provider's DatabricksSubmitRunOperator with the lakehouse's run-time additions."""

from __future__ import annotations

import copy
from typing import Any

from airflow.providers.databricks.operators.databricks import DatabricksSubmitRunOperator
from airflow.sdk import Context

from lakehouse_airflow.databricks import idempotency_token
from lakehouse_airflow.operators import upstream_states
from lakehouse_airflow.params import skip_unless_selected


class LakehouseDatabricksSubmitRunOperator(DatabricksSubmitRunOperator):
    """Adds, at execute time: the self-skip of unselected tables, an idempotency token derived from
    (dag id, task id, run id) -- the same for every try, so a retry after a lost connection
    re-attaches to the run instead of starting a second one -- and the upstream states the audit
    job needs. Secrets are references in the payload (``dbsecrets:<scope>``), never values."""

    def __init__(
        self, *, lakehouse_tables: tuple[str, ...] = (), collect_upstream_states: bool = False, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.lakehouse_tables = lakehouse_tables
        self.collect_upstream_states = collect_upstream_states

    def execute(self, context: Context) -> Any:  # noqa: ANN401
        skip_unless_selected(context, self.lakehouse_tables)
        ti = context["ti"]
        payload: dict[str, Any] = copy.deepcopy(self.json or {})
        payload["idempotency_token"] = idempotency_token(ti.dag_id, ti.task_id, ti.run_id)
        self.json = payload
        if self.collect_upstream_states:
            task = payload["tasks"][0]["spark_python_task"]
            task["parameters"] = [*task["parameters"], "--upstream-states", upstream_states(self, context)]
        return super().execute(context)
