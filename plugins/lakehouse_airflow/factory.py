"""The one place task specs become Airflow operators (the backend switch lives here)."""

from __future__ import annotations

from airflow.sdk import BaseOperator

from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.environments import Environment
from lakehouse_airflow.operators import LakehouseSparkSubmitOperator
from lakehouse_airflow.paths import SPARK_ENTRYPOINT
from lakehouse_airflow.spark_env import spark_submit_settings
from lakehouse_airflow.specs import TaskSpec
from lakehouse_airflow.validate import ValidateSourceOperator


def build_operator(spec: TaskSpec, cfg: PipelineConfig, env: Environment) -> BaseOperator:
    common: dict[str, object] = {
        "task_id": spec.task_id,
        "trigger_rule": spec.trigger_rule,
        # earlier-priority tables are picked first when slots are scarce
        "priority_weight": spec.priority_weight,
        "weight_rule": "absolute",
        "lakehouse_tables": spec.tables,
    }
    if spec.retries is not None:
        common["retries"] = spec.retries
    if spec.kind == "validate":
        return ValidateSourceOperator(
            postgres_conn_id=cfg.source.conn_id,
            schema=str(spec.extra["schema"]),
            table=str(spec.extra["table"]),
            columns=tuple(spec.extra["columns"]),  # type: ignore[arg-type]
            allow_empty=bool(spec.extra["allow_empty"]),
            **common,  # type: ignore[arg-type]
        )
    if spec.kind == "spark" and env.databricks is not None and env.backend == "databricks":
        # imported only for this backend: the Databricks provider costs local DAG parses ~0.15 s
        from lakehouse_airflow.databricks import submit_payload
        from lakehouse_airflow.databricks_operator import LakehouseDatabricksSubmitRunOperator

        db = env.databricks
        return LakehouseDatabricksSubmitRunOperator(
            json=submit_payload(spec, db),
            databricks_conn_id=db.conn_id,
            polling_period_seconds=db.polling_period_seconds,
            collect_upstream_states=spec.collect_upstream_states,
            **({"retries": db.max_retries} if spec.retries is None else {}),  # type: ignore[arg-type]
            **common,  # type: ignore[arg-type]
        )
    if spec.kind == "spark":
        settings = spark_submit_settings()
        return LakehouseSparkSubmitOperator(
            application=str(SPARK_ENTRYPOINT),
            application_args=[str(spec.job), *spec.args],
            conn_id=cfg.spark.conn_id,
            name=f"{cfg.dag_id}.{spec.full_id}",
            source_conn_id=spec.source_conn_id,
            pii_key_conn_id=spec.pii_key_conn_id,
            collect_upstream_states=spec.collect_upstream_states,
            **settings,  # type: ignore[arg-type]
            **common,  # type: ignore[arg-type]
        )
    raise ValueError(f"unknown task kind {spec.kind!r} for {spec.full_id}")
