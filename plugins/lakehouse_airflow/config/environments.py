"""Deployment environments (``include/environments.yaml``): which backend runs the Spark jobs.

``LAKEHOUSE_ENV`` picks an environment (default ``local``). ``backend: local`` builds
SparkSubmitOperator tasks, ``backend: databricks`` DatabricksSubmitRunOperator tasks; nothing else
about the DAG changes. A broken file raises :class:`PipelineConfigError` naming the file and field.

Settings merge in three levels: ``defaults``, then the environment, then the pipeline's own
settings in that environment (``pipelines: {<dag_id>: {<env>: {...}}}``: schedule, run deadline,
Databricks cluster, retries, timeouts, notifications, health, locations). The wheel and the
artifacts path stay the environment's: one deployment serves every pipeline.
"""

from __future__ import annotations

import functools
import os
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import Field, ValidationError, model_validator

from lakehouse_airflow.config.base import PipelineConfigError, Strict, describe_error
from lakehouse_airflow.paths import PROJECT_ROOT

ENV_VAR = "LAKEHOUSE_ENV"
ENVIRONMENTS_FILE_VAR = "LAKEHOUSE_ENVIRONMENTS_FILE"
DEFAULT_FILE = PROJECT_ROOT / "include" / "environments.yaml"


class Autoscale(Strict):
    min_workers: int = Field(ge=1)
    max_workers: int = Field(ge=1)

    @model_validator(mode="after")
    def _ordered(self) -> Autoscale:
        if self.max_workers < self.min_workers:
            raise ValueError("max_workers must be >= min_workers")
        return self


SECRET_REF = re.compile(r"^\{\{secrets/[^/{}]+/[^/{}]+\}\}$")  # Databricks: {{secrets/<scope>/<key>}}
SECRET_NAME = re.compile(r"KEY|SECRET|PASSWORD|TOKEN|CREDENTIAL", re.I)


class ClusterConfig(Strict):
    node_type_id: str = Field(min_length=1)
    num_workers: int | None = Field(default=None, ge=0)
    autoscale: Autoscale | None = None
    # the cluster's environment variables (the Jobs API's spark_env_vars), e.g. the key pair of an
    # s3:// lakehouse root where no instance profile gives one; a variable whose name says it holds a
    # secret must be a secret reference, {{secrets/<scope>/<key>}}, resolved by the cluster at start
    spark_env_vars: dict[str, str] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_size(self) -> ClusterConfig:
        if (self.num_workers is None) == (self.autoscale is None):
            raise ValueError("give exactly one of num_workers or autoscale")
        for name, value in self.spark_env_vars.items():
            if SECRET_NAME.search(name) and not SECRET_REF.match(value):
                raise ValueError(
                    f"spark_env_vars.{name} holds a secret: give a secret reference {{{{secrets/<scope>/<key>}}}}, "
                    "never the value"
                )
        return self


class Notifications(Strict):
    """E-mail recipients per run event (Airflow alerts on failure itself; these are Databricks')."""

    on_start: tuple[str, ...] = ()
    on_failure: tuple[str, ...] = ()
    on_success: tuple[str, ...] = ()

    def email_notifications(self) -> dict[str, list[str]]:
        """The Jobs API ``email_notifications`` (only the events with recipients)."""
        return {event: list(to) for event, to in self.model_dump().items() if to}


class Health(Strict):
    """Databricks job health rules: a run longer than ``run_duration_seconds`` is flagged (and mailed
    to ``on_failure``'s recipients as a duration warning)."""

    run_duration_seconds: int | None = Field(default=None, gt=0)

    def rules(self) -> dict[str, list[dict[str, object]]] | None:
        if self.run_duration_seconds is None:
            return None
        return {"rules": [{"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": self.run_duration_seconds}]}


class AccessControl(Strict):
    group_name: str | None = None
    user_name: str | None = None
    service_principal_name: str | None = None
    permission_level: Literal["CAN_VIEW", "CAN_MANAGE_RUN", "IS_OWNER", "CAN_MANAGE"]


UC_NAME = r"^[A-Za-z0-9_]+$"


class LayerSchemas(Strict):
    """Schema names of the three layers in this environment (default: the pipeline's)."""

    bronze: str | None = Field(default=None, pattern=UC_NAME)
    silver: str | None = Field(default=None, pattern=UC_NAME)
    gold: str | None = Field(default=None, pattern=UC_NAME)


class DatabricksConfig(Strict):
    conn_id: str = Field(min_length=1)
    # where `deploy` uploads the wheel, run.py and the gold SQL files: a Unity Catalog volume (the
    # Files API `deploy` uses writes volumes; clusters and serverless read them as files and libraries)
    artifacts_path: str = Field(pattern=r"^/Volumes/[^/]+/[^/]+/[^/]+")
    # the lakehouse root the jobs read and write (path-based Delta tables, as locally): a Unity Catalog
    # volume, which clusters and serverless compute mount at /Volumes (the jobs use file-system paths),
    # or an object-store prefix s3a://<bucket>/<prefix> that the cluster reaches with its own
    # credentials (an instance profile, or cluster.spark_env_vars with secret references)
    lakehouse_root: str = Field(pattern=r"^(/Volumes/[^/]+/[^/]+/[^/]+|s3a://[^/]+/.+)")
    # file sources with a local root read <files_root>/<root folder name> here (object-store roots are
    # kept as they are); unset: a `files` folder beside lakehouse_root
    files_root: str | None = Field(default=None, pattern=r"^(/Volumes/[^/]+/[^/]+/[^/]+|s3a?://.+)")
    # Unity Catalog: the jobs read and write tables by name, <catalog>.<schema>.<table>; unset: path-based
    # Delta tables under lakehouse_root (which keeps landing files and step results either way)
    catalog: str | None = Field(default=None, pattern=UC_NAME)
    schemas: LayerSchemas = LayerSchemas()
    wheel: str = Field(pattern=r"\.whl$")
    secret_scope: str = Field(min_length=1)
    spark_version: str = Field(min_length=1)
    # per_task: each Spark task its own runs/submit with a new_cluster; serverless: serverless jobs
    # compute (no cluster); shared_cluster: one cluster per DAG run (setup/teardown tasks), every task
    # on it with existing_cluster_id; workflow: one Databricks job run per DAG run on a shared job
    # cluster (the provider's DatabricksWorkflowTaskGroup; a cleared task is repaired in that run).
    # `serverless: true` is short for compute: serverless.
    compute: Literal["per_task", "serverless", "shared_cluster", "workflow"] = "per_task"
    serverless: bool = False
    cluster: ClusterConfig | None = None
    autotermination_minutes: int = Field(default=60, ge=10)  # shared_cluster: if the teardown never runs
    max_retries: int = Field(default=1, ge=0)
    timeout_seconds: int = Field(default=3600, gt=0)
    polling_period_seconds: int = Field(default=30, gt=0)  # how often the operator asks runs/get
    tags: dict[str, str] = Field(default_factory=dict)
    access_control_list: tuple[AccessControl, ...] = ()
    notifications: Notifications = Notifications()
    health: Health = Health()

    def file_sources_root(self) -> str:
        return (self.files_root or f"{self.lakehouse_root.rstrip('/').rsplit('/', 1)[0]}/files").rstrip("/")

    @model_validator(mode="after")
    def _compute(self) -> DatabricksConfig:
        if self.serverless:  # the shorthand wins over an inherited compute mode
            object.__setattr__(self, "compute", "serverless")
        if self.compute == "serverless":
            object.__setattr__(self, "serverless", True)
            if self.cluster is not None:
                raise ValueError("serverless: true and cluster are exclusive")
        elif self.cluster is None:
            raise ValueError("cluster is required unless serverless: true")
        if self.serverless and self.lakehouse_root.startswith("s3a://"):
            raise ValueError(
                "serverless compute reaches object storage through Unity Catalog only: give lakehouse_root a "
                "/Volumes path (a volume over the bucket), or use a cluster (compute: shared_cluster or per_task)"
            )
        return self


class Environment(Strict):
    name: str
    backend: Literal["local", "databricks"] = "local"
    databricks: DatabricksConfig | None = None
    # a run still going this long after it was queued is a deadline breach: marked in the ETL
    # monitor and alerted (the existing job's 2 hours); null: no deadline
    run_deadline_minutes: int | None = Field(default=120, ge=1)
    # the DAG's schedule here (a cron; null: on demand only); unset: the pipeline file's
    schedule: str | None = Field(default=None, min_length=1)

    @model_validator(mode="after")
    def _backend_settings(self) -> Environment:
        if self.backend == "databricks" and self.databricks is None:
            raise ValueError("backend databricks needs a databricks: section")
        return self

    def schedule_for(self, pipeline_schedule: str | None) -> str | None:
        """The schedule a pipeline runs on here: the environment's when it sets one (null included)."""
        return self.schedule if "schedule" in self.model_fields_set else pipeline_schedule


def _merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


PIPELINE_KEYS = {"schedule", "run_deadline_minutes", "databricks"}
PER_DEPLOYMENT = {"artifacts_path", "wheel"}  # one deployment per environment serves every pipeline


def _validate(path: Path, where: str, body: dict[str, Any], name: str) -> Environment:
    try:
        return Environment.model_validate({**body, "name": name})
    except ValidationError as exc:
        raise PipelineConfigError(f"{path}: {where}.{describe_error(exc)}") from None


def _pipeline_overrides(path: Path, raw: Any, envs: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """``pipelines:`` checked: dag id -> environment -> settings (known environments and keys only)."""
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise PipelineConfigError(f"{path}: pipelines: expected a mapping of dag ids")
    for dag_id, per_env in raw.items():
        if not isinstance(per_env, dict):
            raise PipelineConfigError(f"{path}: pipelines.{dag_id}: expected a mapping of environment names")
        for env_name, body in per_env.items():
            where = f"pipelines.{dag_id}.{env_name}"
            if env_name not in envs:
                raise PipelineConfigError(f"{path}: {where}: no such environment (known: {', '.join(envs)})")
            body = body or {}
            unknown = sorted(set(body) - PIPELINE_KEYS) or sorted(set(body.get("databricks") or {}) & PER_DEPLOYMENT)
            if unknown:
                raise PipelineConfigError(
                    f"{path}: {where}.{unknown[0]}: not a per-pipeline setting "
                    f"(allowed: {', '.join(sorted(PIPELINE_KEYS))}; the environment owns {', '.join(sorted(PER_DEPLOYMENT))})"
                )
            if "databricks" in body and envs[env_name].get("backend") != "databricks":
                raise PipelineConfigError(f"{path}: {where}.databricks: environment {env_name!r} is not databricks")
    return raw


def load_environments(path: str | Path | None = None, pipeline: str | None = None) -> dict[str, Environment]:
    """Every environment of the file, with ``defaults`` merged in, and the settings of ``pipeline``
    (a dag id) in each environment merged over them. Every pipeline's settings are validated.
    Read once per file version and pipeline (each DAG of a parse asks; the models are frozen)."""
    path = Path(path or os.environ.get(ENVIRONMENTS_FILE_VAR) or DEFAULT_FILE)
    try:
        stat = path.stat()
    except OSError as exc:
        raise PipelineConfigError(f"{path}: cannot read environments: {exc}") from exc
    return dict(_load(path, stat.st_mtime_ns, stat.st_size, pipeline))


@functools.lru_cache(maxsize=32)
def _load(path: Path, _mtime_ns: int, _size: int, pipeline: str | None) -> tuple[tuple[str, Environment], ...]:
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise PipelineConfigError(f"{path}: cannot read environments: {exc}") from exc
    if not isinstance(raw, dict) or not isinstance(raw.get("environments"), dict):
        raise PipelineConfigError(f"{path}: environments: expected a mapping of environment names")
    unknown = set(raw) - {"defaults", "environments", "pipelines"}
    if unknown:
        raise PipelineConfigError(f"{path}: {sorted(unknown)[0]}: unknown key")
    defaults = raw.get("defaults") or {}
    bodies: dict[str, dict[str, Any]] = {}
    for name, body in raw["environments"].items():
        body = dict(body or {})
        if "run_deadline_minutes" in defaults:
            body.setdefault("run_deadline_minutes", defaults["run_deadline_minutes"])
        if body.get("backend") == "databricks":
            body["databricks"] = _merge(defaults.get("databricks") or {}, body.get("databricks") or {})
        bodies[name] = body
    out = {name: _validate(path, f"environments.{name}", body, name) for name, body in bodies.items()}
    for dag_id, per_env in _pipeline_overrides(path, raw.get("pipelines"), bodies).items():
        for name, override in per_env.items():
            merged = _validate(path, f"pipelines.{dag_id}.{name}", _merge(bodies[name], override or {}), name)
            if dag_id == pipeline:
                out[name] = merged
    return tuple(out.items())


def current_environment(path: str | Path | None = None, pipeline: str | None = None) -> Environment:
    """The environment ``LAKEHOUSE_ENV`` names (default ``local``), as ``pipeline`` (a dag id) sees it."""
    name = os.environ.get(ENV_VAR, "local").strip() or "local"
    envs = load_environments(path, pipeline)
    if name not in envs:
        raise PipelineConfigError(f"{ENV_VAR}={name!r}: no such environment (known: {', '.join(envs)})")
    return envs[name]
