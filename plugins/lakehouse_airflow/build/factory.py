"""The one place task specs become Airflow operators (the backend switch lives here)."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext
from typing import Any

from airflow.sdk import BaseOperator

from lakehouse_airflow.config.base import PipelineConfigError
from lakehouse_airflow.config.environments import Environment
from lakehouse_airflow.config.pipeline import PipelineConfig
from lakehouse_airflow.describe.tasks import SourceCheckTask, SparkTask, TaskSpec
from lakehouse_airflow.operators.assets import input_assets, table_assets
from lakehouse_airflow.operators.spark_env import spark_submit_settings
from lakehouse_airflow.operators.spark_submit import LakehouseSparkSubmitOperator
from lakehouse_airflow.operators.validate import ValidateSourceOperator
from lakehouse_airflow.paths import SPARK_ENTRYPOINT
from lakehouse_contract.run import AIRFLOW_TEMPLATES, TABLE_RUN, TRY_NUMBER


def _common(spec: TaskSpec, task_id: str) -> dict[str, Any]:
    common: dict[str, Any] = {
        "task_id": task_id,
        "task_display_name": spec.task_id,
        "trigger_rule": spec.trigger_rule,
        # earlier-priority tables are picked first when slots are scarce
        "priority_weight": spec.priority_weight,
        "weight_rule": "absolute",
        "lakehouse_tables": spec.tables,
    }
    if spec.retries is not None:
        common["retries"] = spec.retries
    return common


def build_operator(spec: TaskSpec, cfg: PipelineConfig, env: Environment, task_id: str | None = None) -> BaseOperator:
    """The operator of one task; ``task_id`` is its id inside its group (default ``spec.task_id``)."""
    common = _common(spec, task_id or spec.task_id)
    if env.backend == "databricks" and env.databricks is not None and env.databricks.compute == "workflow":
        return _workflow_task(spec, cfg, env, common)
    if isinstance(spec, SourceCheckTask):
        return ValidateSourceOperator(postgres_conn_id=spec.conn_id, check=spec.check, **common)
    if not isinstance(spec, SparkTask):
        raise TypeError(f"unknown task kind {type(spec).__name__} for {spec.full_id}")
    if env.backend == "databricks" and env.databricks is not None:
        # imported only for this backend: the Databricks provider costs local DAG parses ~0.15 s
        from lakehouse_airflow.databricks.operator import LakehouseDatabricksSubmitRunOperator
        from lakehouse_airflow.databricks.payload import submit_payload

        db = env.databricks
        if spec.retries is None:
            common["retries"] = db.max_retries
        from lakehouse_airflow.databricks.cluster import CREATE_TASK_ID

        return LakehouseDatabricksSubmitRunOperator(
            json=submit_payload(spec, db),
            databricks_conn_id=db.conn_id,
            polling_period_seconds=db.polling_period_seconds,
            upstream_chain=spec.upstream_chain,
            cluster_task_id=CREATE_TASK_ID if db.compute == "shared_cluster" else None,
            inlets=input_assets(spec.spec),
            outlets=table_assets(spec.spec),
            **common,
        )
    return LakehouseSparkSubmitOperator(
        application=str(SPARK_ENTRYPOINT),
        application_args=spec.argv(),
        conn_id=cfg.spark.conn_id,
        name=f"{cfg.dag_id}.{spec.full_id}",
        source_conn_id=spec.source_conn_id,
        pii_key_conn_id=spec.pii_key_conn_id,
        storage_conn_id=spec.storage_conn_id,
        upstream_chain=spec.upstream_chain,
        inlets=input_assets(spec.spec),
        outlets=table_assets(spec.spec),
        **spark_submit_settings(),
        **common,
    )


def _workflow_task(spec: TaskSpec, cfg: PipelineConfig, env: Environment, common: dict[str, Any]) -> BaseOperator:
    """``compute: workflow``: a task of the DAG run's Databricks job (validate_connection too: the
    job has no Airflow worker between its tasks, so the source check runs as its Spark job)."""
    from lakehouse_airflow.databricks.job_export import task_body, task_parameters
    from lakehouse_airflow.databricks.payload import task_key
    from lakehouse_airflow.databricks.workflow import LakehouseWorkflowTaskOperator

    db = env.databricks
    assert db is not None
    flags = spec.run_context if isinstance(spec, SparkTask) else TABLE_RUN
    parameters = task_parameters(spec, db, workflow_run_context(flags), templated=True)
    common["retries"] = 0  # Databricks retries on the live job cluster; a later try repairs (workflow.py)
    return LakehouseWorkflowTaskOperator(
        task_config=task_body(spec, db, parameters, cfg.retry_delay_seconds),
        databricks_task_key=task_key(spec.full_id),
        databricks_conn_id=db.conn_id,
        polling_period_seconds=db.polling_period_seconds,
        inlets=input_assets(spec.spec) if isinstance(spec, SparkTask) else [],
        outlets=table_assets(spec.spec) if isinstance(spec, SparkTask) else [],
        **common,
    )


def task_container(env: Environment, cfg: PipelineConfig, gate: str | None = None) -> AbstractContextManager[Any]:
    """Where a DAG's Spark tasks are built: ``compute: workflow``'s Databricks job group (one job
    run per DAG run, see ``databricks/workflow.py``); nothing for the other modes. ``gate``: an
    Airflow-side task between the Spark tasks (the waits on the CDC and hourly DAGs), which a job
    run cannot honour."""
    db = env.databricks
    if env.backend != "databricks" or db is None or db.compute != "workflow":
        return nullcontext()
    if gate:
        raise PipelineConfigError(
            f"{cfg.dag_id}: compute: workflow cannot wait in {gate} between its Spark tasks (the job run "
            "starts them without Airflow); use compute: shared_cluster for a pipeline with cdc or hourly tables"
        )
    from lakehouse_airflow.databricks.job_export import JOB_CLUSTER_KEY
    from lakehouse_airflow.databricks.payload import jinja_literal, new_cluster
    from lakehouse_airflow.databricks.workflow import GROUP_ID, LakehouseWorkflowGroup

    cluster = new_cluster(db)
    if "spark_env_vars" in cluster:  # Databricks' {{secrets/...}} references, kept from Airflow's Jinja
        cluster["spark_env_vars"] = {k: jinja_literal(v) for k, v in cluster["spark_env_vars"].items()}
    extra: dict[str, Any] = {"timeout_seconds": db.timeout_seconds, "tags": dict(db.tags)}
    if db.access_control_list:
        extra["access_control_list"] = [acl.model_dump(exclude_none=True) for acl in db.access_control_list]
    return LakehouseWorkflowGroup(
        group_id=GROUP_ID, prefix_group_id=False, tooltip="one Databricks job run per DAG run",
        databricks_conn_id=db.conn_id, max_concurrent_runs=cfg.max_active_runs,
        job_clusters=[] if db.serverless else [{"job_cluster_key": JOB_CLUSTER_KEY, "new_cluster": cluster}],
        extra_job_params=extra,
    )  # fmt: skip


def workflow_run_context(flags: tuple[str, ...]) -> dict[str, str]:
    """The run flags of a workflow task: Airflow's templates, rendered by the launch in the DAG
    run's context; the try number is the Databricks task's own (a Databricks dynamic value)."""
    from lakehouse_airflow.databricks.payload import jinja_literal

    context = {flag: AIRFLOW_TEMPLATES[flag] for flag in flags}
    context[TRY_NUMBER] = jinja_literal("{{task.execution_count}}")
    return context


def attach_run_cluster(env: Environment, spark: list[BaseOperator]) -> None:
    """``compute: shared_cluster``: the run's cluster created before the Spark tasks and deleted
    after all of them (other modes: nothing). A setup's direct downstream must be all_success
    (Airflow's rule); the other tasks (audits, all_done) come after one of those anyway."""
    compute = run_cluster_tasks(env)
    if compute:
        create, delete = compute
        create >> [t for t in spark if t.trigger_rule == "all_success"]
        spark >> delete


def run_cluster_tasks(env: Environment) -> tuple[BaseOperator, BaseOperator] | None:
    """``compute: shared_cluster``: the DAG run's cluster as a setup task and its deletion as the
    matching teardown (None for every other compute mode)."""
    db = env.databricks
    if env.backend != "databricks" or db is None or db.compute != "shared_cluster":
        return None
    from lakehouse_airflow.databricks.cluster import (
        CREATE_TASK_ID,
        DELETE_TASK_ID,
        CreateRunClusterOperator,
        DeleteRunClusterOperator,
    )
    from lakehouse_airflow.databricks.payload import new_cluster

    create = CreateRunClusterOperator(
        task_id=CREATE_TASK_ID, databricks_conn_id=db.conn_id, cluster=new_cluster(db),
        autotermination_minutes=db.autotermination_minutes, poll_seconds=db.polling_period_seconds,
        retries=db.max_retries,
    )  # fmt: skip
    delete = DeleteRunClusterOperator(task_id=DELETE_TASK_ID, databricks_conn_id=db.conn_id, retries=2)
    return create.as_setup(), delete.as_teardown(setups=create)
