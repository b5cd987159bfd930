"""Export the pipeline as a native Databricks job, for teams that schedule on Databricks itself.

``python -m lakehouse_airflow.databricks.job_export [--env prod] [--out build/databricks]`` writes, from the
same pipeline and environment config the DAG is built from:

- ``jobs/<dag_id>.<env>.json``: the Jobs API 2.1 ``jobs/create`` request, one per environment;
- ``databricks.yml``: an Asset Bundle whose targets (one per environment) carry the same job.

The job has the DAG's task graph (one task per Airflow task, same ids with ``.`` -> ``__``, same
dependencies and trigger rules as ``run_if``), the pipeline's schedule as a Quartz cron in its time
zone, ``max_concurrent_runs: 1``, timeouts, retries, e-mail notifications, tags and permissions
from the environment. Every task is a ``spark_python_task`` of the deployed entry script, on one
shared job cluster (or serverless environment), with the wheel as its library.

What Airflow hands a task at run time comes from Databricks dynamic value references instead:
``{{job.run_id}}`` is the run id, ``{{task.execution_count}}`` the try number, and the logical
date is the job parameter ``logical_date`` (empty: derived by every task from the trigger time and
the daily schedule, see ``spark_jobs/runtime/schedule.py``; set it to backfill or rerun a date). The
``validate_connection`` tasks run the ``validate`` Spark job (no Airflow worker to run the
PostgreSQL check), and each ``audit`` task gets its upstream states from
``{{tasks.<key>.result_state}}``. Secrets stay references (``dbsecrets:<scope>``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

import yaml

from lakehouse_airflow.config.environments import DatabricksConfig, Environment, load_environments
from lakehouse_airflow.config.pipeline import PipelineConfig, load_pipelines
from lakehouse_airflow.databricks.payload import (
    ENVIRONMENT_KEY,
    jinja_literal,
    libraries,
    new_cluster,
    python_task,
    remote_spec,
    serverless_environment,
    task_key,
)
from lakehouse_airflow.describe.pipeline import pipeline_specs
from lakehouse_airflow.describe.tasks import SparkTask, TaskSpec, job_spec
from lakehouse_airflow.paths import PIPELINES_DIR, PROJECT_ROOT
from lakehouse_contract import run
from lakehouse_contract.specs import SPEC_FLAG

JOB_CLUSTER_KEY = "lakehouse"
DAILY_CRON = re.compile(r"^(\d{1,2}) (\d{1,2}) \* \* \*$")
RUN_IF = {"all_success": "ALL_SUCCESS", "all_done": "ALL_DONE", "none_failed": "NONE_FAILED"}
# run-context flag -> Databricks dynamic value reference (what Airflow renders for a DAG run)
NATIVE_RUN_CONTEXT = {
    run.RUN_ID: "{{job.run_id}}",
    run.TRY_NUMBER: "{{task.execution_count}}",
    run.LOGICAL_DATE: "{{job.parameters.logical_date}}",
    run.MODE: "{{job.parameters.mode}}",
    # the jobs derive the data interval from the logical date and the schedule
}
PARAMETERS = [
    {"name": "logical_date", "default": ""},  # empty: the latest complete schedule interval
    {"name": "mode", "default": "incremental"},  # incremental | full (the DAG's params.mode)
]


class ExportError(ValueError):
    """The pipeline cannot be expressed as a native job (the message says why)."""


def quartz_cron(cron: str) -> str:
    """``M H * * *`` -> Quartz ``0 M H * * ?``. Only daily schedules: the jobs derive their logical
    date from a daily schedule when Databricks, not Airflow, starts them."""
    match = DAILY_CRON.match(cron.strip())
    if not match or int(match[2]) > 23 or int(match[1]) > 59:
        raise ExportError(f"schedule {cron!r}: a native job export needs a daily schedule 'M H * * *'")
    return f"0 {int(match[1])} {int(match[2])} * * ?"


def _parameters(spec: TaskSpec, cfg: PipelineConfig, env: DatabricksConfig) -> list[str]:
    """The remote spec, the run context as dynamic value references, the schedule the jobs derive
    their clock from; the audit's upstream states from the earlier tasks' result states (its
    validate_connection error comes from that job's step result, there is no XCom)."""
    assert cfg.schedule is not None  # checked by job_settings
    return [
        *task_parameters(spec, env, NATIVE_RUN_CONTEXT),
        run.SCHEDULE, cfg.schedule.strip(),
        run.SCHEDULE_TIMEZONE, cfg.timezone,
        run.TRIGGER_TIME, "{{job.trigger.time.timestamp_ms}}",
    ]  # fmt: skip


def task_parameters(
    spec: TaskSpec, env: DatabricksConfig, run_context: dict[str, str], templated: bool = False
) -> list[str]:
    """The remote spec, the run context flags given, the audit's upstream states as the earlier
    tasks' result states in the same job run (shared by the native export and ``compute: workflow``,
    whose parameters Airflow renders first: ``templated`` keeps Databricks' references verbatim)."""
    args = [SPEC_FLAG, remote_spec(job_spec(spec), env).to_json()]
    for flag, value in run_context.items():
        args += [flag, value]
    if isinstance(spec, SparkTask) and spec.upstream_chain:
        states = ",".join(
            f"{up.rsplit('.', 1)[-1]}={{{{tasks.{task_key(up)}.result_state}}}}" for up in spec.upstream_chain
        )
        args += [run.UPSTREAM_STATES, jinja_literal(states) if templated else states]
    return args


def task_body(spec: TaskSpec, env: DatabricksConfig, parameters: list[str], retry_delay_seconds: int) -> dict[str, Any]:
    """A job task's body on the shared job cluster (or serverless environment), without its key
    and dependencies: the Spark job with ``parameters``, the wheel, retries and timeout."""
    job = job_spec(spec).job
    body: dict[str, Any] = {
        "description": f"{spec.full_id} ({job})",
        "spark_python_task": python_task(job, parameters, env),
    }
    if env.serverless:
        body["environment_key"] = ENVIRONMENT_KEY
    else:
        body["job_cluster_key"] = JOB_CLUSTER_KEY
        body["libraries"] = libraries(env)
    body["max_retries"] = env.max_retries if spec.retries is None else spec.retries
    body["min_retry_interval_millis"] = retry_delay_seconds * 1000
    body["retry_on_timeout"] = False
    body["timeout_seconds"] = env.timeout_seconds
    return body


def _task(spec: TaskSpec, cfg: PipelineConfig, env: DatabricksConfig) -> dict[str, Any]:
    task: dict[str, Any] = {"task_key": task_key(spec.full_id)}
    if spec.upstream:
        task["depends_on"] = [{"task_key": task_key(u)} for u in spec.upstream]
        task["run_if"] = RUN_IF[spec.trigger_rule]
    return {**task, **task_body(spec, env, _parameters(spec, cfg, env), cfg.retry_delay_seconds)}


def job_clusters(env: DatabricksConfig) -> list[dict[str, Any]]:
    """The one shared job cluster every task runs on."""
    return [{"job_cluster_key": JOB_CLUSTER_KEY, "new_cluster": new_cluster(env)}]


def job_settings(
    cfg: PipelineConfig, env_name: str, env: DatabricksConfig, schedule: str | None | bool = True
) -> dict[str, Any]:
    """The job's settings (the ``jobs/create`` body without ``access_control_list``). ``schedule``:
    the environment's cron (``None``: on demand only, no trigger); ``True``: the pipeline's. The
    pipeline's schedule stays the clock the tasks derive their logical date from either way."""
    if not cfg.schedule:
        raise ExportError(f"{cfg.dag_id}: the pipeline has no schedule to export")
    cron = cfg.schedule if schedule is True else schedule
    settings: dict[str, Any] = {
        "name": cfg.dag_id,
        "description": (cfg.description or cfg.dag_id)
        + f" (generated by lakehouse_airflow.databricks.job_export for environment {env_name})",
        "tags": {**env.tags, "environment": env_name},
    }
    if cron:
        settings["schedule"] = {
            "quartz_cron_expression": quartz_cron(str(cron)),
            "timezone_id": cfg.timezone,
            "pause_status": "UNPAUSED",
        }
    settings |= {
        "max_concurrent_runs": 1,
        "timeout_seconds": env.timeout_seconds,
        "email_notifications": {**env.notifications.email_notifications(), "no_alert_for_skipped_runs": True},
        "parameters": [dict(p) for p in PARAMETERS],
    }
    if env.health.rules():
        settings["health"] = env.health.rules()
    if env.serverless:
        settings["environments"] = [serverless_environment(env)]
    else:
        settings["job_clusters"] = job_clusters(env)
    settings["tasks"] = [_task(spec, cfg, env) for spec in pipeline_specs(cfg)]
    return settings


def create_request(
    cfg: PipelineConfig, env_name: str, env: DatabricksConfig, schedule: str | None | bool = True
) -> dict[str, Any]:
    """The Jobs API 2.1 ``jobs/create`` request body."""
    body = job_settings(cfg, env_name, env, schedule)
    if env.access_control_list:
        body["access_control_list"] = [acl.model_dump(exclude_none=True) for acl in env.access_control_list]
    return body


def bundle(cfg: PipelineConfig, envs: dict[str, Environment]) -> dict[str, Any]:
    """An Asset Bundle (``databricks.yml``): one target per environment carrying its job."""
    targets: dict[str, Any] = {}
    for name, environment in envs.items():
        env = environment.databricks
        assert env is not None
        job = job_settings(cfg, name, env, environment.schedule_for(cfg.schedule))
        if env.access_control_list:
            job["permissions"] = [
                {"level": acl.permission_level, **acl.model_dump(exclude_none=True, exclude={"permission_level"})}
                for acl in env.access_control_list
            ]
        targets[name] = {"resources": {"jobs": {cfg.dag_id: job}}}
    return {"bundle": {"name": cfg.dag_id}, "targets": targets}


def databricks_environments(only: str | None = None, pipeline: str | None = None) -> dict[str, Environment]:
    """The Databricks environments (as ``pipeline``, a dag id, sees them), or only ``only``."""
    envs = {n: e for n, e in load_environments(pipeline=pipeline).items() if e.databricks is not None}
    if only is not None:
        if only not in envs:
            raise ExportError(f"--env {only!r}: no databricks environment of that name (known: {', '.join(envs)})")
        envs = {only: envs[only]}
    return envs


def export(out: Path, only_env: str | None = None, pipelines_dir: Path = PIPELINES_DIR) -> list[Path]:
    """Write the job JSON per environment and the bundle per pipeline under ``out``; the paths."""
    written: list[Path] = []
    for cfg in load_pipelines(str(pipelines_dir)):
        envs = databricks_environments(only_env, cfg.dag_id)
        for name, env in envs.items():
            assert env.databricks is not None
            request = create_request(cfg, name, env.databricks, env.schedule_for(cfg.schedule))
            path = out / "jobs" / f"{cfg.dag_id}.{name}.json"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(request, indent=2) + "\n")
            written.append(path)
        path = out / cfg.dag_id / "databricks.yml"
        path.parent.mkdir(parents=True, exist_ok=True)
        header = "# Generated by `python -m lakehouse_airflow.databricks.job_export`; edit the pipeline config, not this file.\n"
        path.write_text(header + yaml.safe_dump(bundle(cfg, envs), sort_keys=False, width=200))
        written.append(path)
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m lakehouse_airflow.databricks.job_export", description=__doc__.split("\n")[0]
    )
    parser.add_argument("--env", help="one environment (default: every databricks environment)")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "build" / "databricks")
    args = parser.parse_args(argv)
    try:
        written = export(args.out, args.env)
    except ExportError as exc:
        print(f"job_export: {exc}", file=sys.stderr)
        return 2
    for path in written:
        print(path)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
