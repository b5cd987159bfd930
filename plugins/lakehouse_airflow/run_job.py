"""Run one Spark job from a terminal as a task would: ``python -m lakehouse_airflow.run_job <job> [args]``.

``spark_jobs/run.py`` with the local backend's command line (``spark-submit``, or
``scripts/spark-connect-submit`` for a Spark Connect client); when the lakehouse
root (``$LAKEHOUSE_ROOT``) or a root named in the arguments is on an object store, the key pair of
the ``aws`` connection (``$LAKEHOUSE_STORAGE_CONN_ID``, default ``lakehouse_s3``) is resolved into
the job's environment, as the operator does at execute time (never into argv). ``make report``
(which takes the pipeline's bronze schema and audit table from its file) and the DR CLI use it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from lakehouse_airflow.operators.spark_env import submit_command
from lakehouse_contract.storage import DEFAULT_STORAGE_CONN_ID, is_object_store


def with_pipeline_schemas(job_args: list[str]) -> list[str]:
    """``report --dag-id X``: the bronze schema and audit table of pipeline X, unless given."""
    if job_args[:1] != ["report"] or "--dag-id" not in job_args or "--bronze-schema" in job_args:
        return job_args
    from lakehouse_airflow.config import load_pipelines
    from lakehouse_airflow.paths import PIPELINES_DIR

    dag_id = job_args[job_args.index("--dag-id") + 1]
    for cfg in load_pipelines(PIPELINES_DIR):
        if cfg.dag_id == dag_id:
            extra = ["--bronze-schema", cfg.lakehouse.bronze_schema]
            return [
                *job_args,
                *extra,
                *([] if "--audit-table" in job_args else ["--audit-table", cfg.lakehouse.audit_table]),
            ]
    return job_args


def run_job(job_args: list[str], storage_conn_id: str | None = None) -> int:
    job_args = with_pipeline_schemas(job_args)
    env = dict(os.environ)
    roots = [os.environ.get("LAKEHOUSE_ROOT", ""), *job_args]
    conn_id = storage_conn_id or os.environ.get("LAKEHOUSE_STORAGE_CONN_ID") or DEFAULT_STORAGE_CONN_ID
    if any(is_object_store(r) for r in roots):
        from lakehouse_airflow.operators.secrets import object_store_env

        env.update(object_store_env(conn_id))
    return subprocess.run(submit_command(job_args), env=env).returncode


if __name__ == "__main__":
    sys.exit(run_job(sys.argv[1:]))
