"""Databricks backend: one TaskSpec as a Jobs API 2.1 ``runs/submit`` payload (pure data).

The job receives the same spec and run context as under spark-submit; only the spec's locations
and secret references differ (:func:`remote_spec`): the lakehouse root, catalog and schemas are
the environment's, project files are paths under its artifacts location (where `deploy` puts
them), and secrets are ``dbsecrets:<scope>`` references (no value is in the payload).
"""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path, PurePosixPath
from typing import Any

from lakehouse_airflow.config.environments import DatabricksConfig
from lakehouse_airflow.describe.tasks import SparkTask
from lakehouse_airflow.paths import PROJECT_ROOT, SPARK_ENTRYPOINT
from lakehouse_contract.naming import LAYERS, Location, TableName
from lakehouse_contract.run import run_flags
from lakehouse_contract.runtime import PYPI_REQUIREMENTS
from lakehouse_contract.secrets import scope_ref
from lakehouse_contract.specs import (
    SPEC_FLAG,
    CdcSource,
    ExtractFilesSpec,
    GoldSpec,
    JobSpec,
    MaintainSpec,
    ValidateFilesSpec,
    WriteBronzeSpec,
)
from lakehouse_contract.storage import is_object_store

ENVIRONMENT_KEY = "lakehouse"
SERVERLESS_CLIENT = "3"
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


def remote_location(spec: JobSpec, env: DatabricksConfig) -> Location:
    """The environment's lakehouse root, catalog and layer schemas (default: the pipeline's)."""
    local = spec.location.schemas
    override = env.schemas
    schemas = replace(
        local,
        bronze=override.bronze or local.bronze,
        silver=override.silver or local.silver,
        gold=override.gold or local.gold,
    )
    return Location(env.lakehouse_root, schemas, env.catalog)


def remote_spec(spec: JobSpec, env: DatabricksConfig) -> JobSpec:
    """The job's spec on Databricks: the environment's locations, schemas, catalog and secret scope
    in place of the local ones (typed fields, nothing scanned)."""
    where = remote_location(spec, env)
    changes: dict[str, Any] = {"location": where}
    for name in ("jdbc_secret", "pii_key_secret"):
        if getattr(spec, name, None):
            changes[name] = scope_ref(env.secret_scope)
    cdc = getattr(spec, "cdc", None)
    if isinstance(cdc, CdcSource):  # CDC tables: the source connection the slot is read through
        changes["cdc"] = replace(cdc, jdbc_secret=scope_ref(env.secret_scope))
    if isinstance(spec, GoldSpec):
        changes["sql_file"] = remote_path(spec.sql_file, env)
    if isinstance(spec, ValidateFilesSpec | ExtractFilesSpec | WriteBronzeSpec) and spec.files is not None \
            and not is_object_store(spec.files.root):  # fmt: skip
        root = f"{env.file_sources_root()}/{PurePosixPath(spec.files.root).name}"
        location = root + spec.files.location[len(spec.files.root) :]
        changes["files"] = replace(spec.files, root=root, location=location)
    if isinstance(spec, MaintainSpec):  # schema.table names of the local layer schemas -> the environment's
        schemas = {getattr(spec.location.schemas, layer): getattr(where.schemas, layer) for layer in LAYERS}
        names = [TableName.parse(t) for t in spec.tables]
        changes["tables"] = tuple(str(TableName(schemas.get(n.schema, n.schema), n.name)) for n in names)
    return replace(spec, **changes)


def remote_parameters(task: SparkTask, env: DatabricksConfig) -> list[str]:
    """The job's parameters on Databricks: the remote spec and the same templated run context."""
    spec = remote_spec(task.spec, env)
    return [SPEC_FLAG, spec.to_json(), *run_flags(task.upstream_error_of, task.run_context)]


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
        **({"spark_env_vars": dict(env.cluster.spark_env_vars)} if env.cluster.spark_env_vars else {}),
        "custom_tags": dict(env.tags),
        "data_security_mode": "SINGLE_USER",
    }


def jinja_literal(text: str) -> str:
    """``text`` as Airflow renders it, verbatim: the payload is a templated field, and Databricks'
    own ``{{...}}`` references (``{{secrets/<scope>/<key>}}``) must reach the service as written."""
    return f"{{% raw %}}{text}{{% endraw %}}" if "{{" in text or "{%" in text else text


def task_key(full_id: str) -> str:
    """``group.task`` as a Jobs API task key (letters, digits, ``_`` and ``-`` only)."""
    return full_id.replace(".", "__")


def wheel_path(env: DatabricksConfig) -> str:
    return f"{env.artifacts_path.rstrip('/')}/{env.wheel}"


def python_task(job: str, parameters: list[str], env: DatabricksConfig) -> dict[str, Any]:
    """``spark_python_task``: the deployed entry script with the job name and its arguments."""
    return {"python_file": remote_path(SPARK_ENTRYPOINT, env), "parameters": [job, *parameters]}


def libraries(env: DatabricksConfig) -> list[dict[str, Any]]:
    """A cluster task's libraries: the deployed wheel and the jobs' PyPI requirements."""
    return [{"whl": wheel_path(env)}, *({"pypi": {"package": p}} for p in PYPI_REQUIREMENTS)]


def serverless_environment(env: DatabricksConfig) -> dict[str, Any]:
    """The serverless ``environments`` entry: client version, the deployed wheel and the jobs'
    PyPI requirements."""
    return {
        "environment_key": ENVIRONMENT_KEY,
        "spec": {"client": SERVERLESS_CLIENT, "dependencies": [wheel_path(env), *PYPI_REQUIREMENTS]},
    }


def submit_payload(spec: SparkTask, env: DatabricksConfig) -> dict[str, Any]:
    """The ``runs/submit`` JSON for one Spark task (``run_name`` stays a template Airflow renders;
    the idempotency token is added per run at execute time)."""
    task: dict[str, Any] = {
        "task_key": task_key(spec.full_id),
        "spark_python_task": python_task(spec.job, remote_parameters(spec, env), env),
        "timeout_seconds": env.timeout_seconds,
    }
    payload: dict[str, Any] = {"run_name": RUN_NAME, "timeout_seconds": env.timeout_seconds}
    if env.serverless:
        task["environment_key"] = ENVIRONMENT_KEY
        payload["environments"] = [serverless_environment(env)]
    elif env.compute == "shared_cluster":  # the run's cluster id is added at execute time (operator)
        task["libraries"] = libraries(env)
    else:
        cluster = new_cluster(env)
        if "spark_env_vars" in cluster:  # Databricks' {{secrets/...}} references, kept from Airflow's Jinja
            cluster["spark_env_vars"] = {k: jinja_literal(v) for k, v in cluster["spark_env_vars"].items()}
        task["new_cluster"] = cluster
        task["libraries"] = libraries(env)
    payload["tasks"] = [task]
    if env.access_control_list:
        payload["access_control_list"] = [acl.model_dump(exclude_none=True) for acl in env.access_control_list]
    return payload
