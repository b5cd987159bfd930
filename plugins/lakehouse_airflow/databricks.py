"""Databricks backend: one TaskSpec as a Jobs API 2.1 ``runs/submit`` payload (pure data).

The job receives the same argument list as under spark-submit; only locations and secret
references are translated: the lakehouse root and project files become paths under the
environment's artifacts location (where `deploy` puts them), ``env:`` secret references become
``dbsecrets:<scope>`` (the job reads the Databricks secret scope; no value is in the payload).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from lakehouse_airflow.environments import DatabricksConfig
from lakehouse_airflow.paths import PROJECT_ROOT
from lakehouse_airflow.specs import TaskSpec

ENVIRONMENT_KEY = "lakehouse"
SERVERLESS_CLIENT = "3"
SECRET_FLAGS = ("--jdbc-secret", "--pii-key-secret")
RUN_NAME = "{{ dag.dag_id }}.{{ task.task_id }}.{{ run_id }}"


def idempotency_token(dag_id: str, task_id: str, run_id: str, generation: int = 0) -> str:
    """Same for every try of one task in one run (so a retry re-attaches instead of launching a
    second run); 64 hex characters, the API's limit. ``generation`` moves on only after a run of
    the previous token has finished (see LakehouseDatabricksSubmitRunOperator.submit_job)."""
    key = f"{dag_id}\x1f{task_id}\x1f{run_id}" + (f"\x1f{generation}" if generation else "")
    return hashlib.sha256(key.encode()).hexdigest()


def remote_path(local: str | Path, env: DatabricksConfig) -> str:
    """A project file's location under the environment's artifacts path."""
    path = Path(local).resolve()
    try:
        relative = path.relative_to(PROJECT_ROOT)
    except ValueError:
        raise ValueError(f"{path} is outside the project, so `deploy` does not upload it") from None
    return f"{env.artifacts_path.rstrip('/')}/{relative.as_posix()}"


def remote_args(args: tuple[str, ...], env: DatabricksConfig) -> list[str]:
    """The job's arguments on Databricks: the environment's locations, schemas, catalog and secret
    scope in place of the local ones."""
    schemas = {f"--{layer}-schema": name for layer, name in env.schemas.model_dump().items() if name}
    out: list[str] = []
    flag = ""
    for arg in args:
        if flag == "--lakehouse-root":
            arg = env.lakehouse_root
        elif flag in SECRET_FLAGS:
            arg = f"dbsecrets:{env.secret_scope}"
        elif flag == "--sql-file":
            arg = remote_path(arg, env)
        elif flag in schemas:
            arg = schemas[flag]
        out.append(arg)
        flag = arg if arg.startswith("--") else ""
    if env.catalog and "--lakehouse-root" in args:  # every table job (they all take the run context)
        out += ["--catalog", env.catalog]
    return out


def new_cluster(env: DatabricksConfig) -> dict[str, Any]:
    assert env.cluster is not None
    size: dict[str, Any] = (
        {"autoscale": env.cluster.autoscale.model_dump()}
        if env.cluster.autoscale
        else {"num_workers": env.cluster.num_workers}
    )
    return {
        "spark_version": env.spark_version,
        "node_type_id": env.cluster.node_type_id,
        **size,
        "spark_conf": {"spark.sql.session.timeZone": "UTC"},
        "custom_tags": dict(env.tags),
        "data_security_mode": "SINGLE_USER",
    }


def task_key(full_id: str) -> str:
    """``group.task`` as a Jobs API task key (letters, digits, ``_`` and ``-`` only)."""
    return full_id.replace(".", "__")


def wheel_path(env: DatabricksConfig) -> str:
    return f"{env.artifacts_path.rstrip('/')}/{env.wheel}"


def python_task(job: str, parameters: list[str], env: DatabricksConfig) -> dict[str, Any]:
    """``spark_python_task``: the deployed entry script with the job name and its arguments."""
    return {"python_file": remote_path(PROJECT_ROOT / "spark_jobs" / "run.py", env), "parameters": [job, *parameters]}


def serverless_environment(env: DatabricksConfig) -> dict[str, Any]:
    """The serverless ``environments`` entry: client version and the deployed wheel."""
    return {
        "environment_key": ENVIRONMENT_KEY,
        "spec": {"client": SERVERLESS_CLIENT, "dependencies": [wheel_path(env)]},
    }


def submit_payload(spec: TaskSpec, env: DatabricksConfig) -> dict[str, Any]:
    """The ``runs/submit`` JSON for one Spark task (``run_name`` stays a template Airflow renders;
    the idempotency token is added per run at execute time)."""
    if spec.job is None:
        raise ValueError(f"{spec.full_id} is not a Spark task")
    task: dict[str, Any] = {
        "task_key": task_key(spec.full_id),
        "spark_python_task": python_task(spec.job, remote_args(spec.args, env), env),
        "timeout_seconds": env.timeout_seconds,
    }
    payload: dict[str, Any] = {"run_name": RUN_NAME, "timeout_seconds": env.timeout_seconds}
    if env.serverless:
        task["environment_key"] = ENVIRONMENT_KEY
        payload["environments"] = [serverless_environment(env)]
    else:
        task["new_cluster"] = new_cluster(env)
        task["libraries"] = [{"whl": wheel_path(env)}]
    payload["tasks"] = [task]
    if env.access_control_list:
        payload["access_control_list"] = [acl.model_dump(exclude_none=True) for acl in env.access_control_list]
    return payload
