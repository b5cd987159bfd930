"""Run one Spark job from a terminal as a task would: ``python -m lakehouse_airflow.run_job <job> [args]``.

``spark-submit`` of ``spark_jobs/run.py`` with the local backend's settings; when the lakehouse
root (``$LAKEHOUSE_ROOT``) or a root named in the arguments is on an object store, the key pair of
the ``aws`` connection (``$LAKEHOUSE_STORAGE_CONN_ID``, default ``lakehouse_s3``) is resolved into
the job's environment, as the operator does at execute time (never into argv). ``make report``
and the DR CLI use it.
"""

from __future__ import annotations

import os
import subprocess
import sys

from lakehouse_airflow.operators.spark_env import spark_submit_settings
from lakehouse_airflow.paths import SPARK_ENTRYPOINT
from lakehouse_contract.storage import DEFAULT_STORAGE_CONN_ID, is_object_store


def submit_argv(job_args: list[str]) -> list[str]:
    settings = spark_submit_settings()
    argv = ["spark-submit", "--master", "local[1]"]
    for key, value in settings["conf"].items():
        argv += ["--conf", f"{key}={value}"]
    if settings.get("packages"):
        argv += ["--packages", settings["packages"]]
    return [*argv, str(SPARK_ENTRYPOINT), *job_args]


def run_job(job_args: list[str], storage_conn_id: str | None = None) -> int:
    env = dict(os.environ)
    roots = [os.environ.get("LAKEHOUSE_ROOT", ""), *job_args]
    conn_id = storage_conn_id or os.environ.get("LAKEHOUSE_STORAGE_CONN_ID") or DEFAULT_STORAGE_CONN_ID
    if any(is_object_store(r) for r in roots):
        from lakehouse_airflow.operators.secrets import object_store_env

        env.update(object_store_env(conn_id))
    return subprocess.run(submit_argv(job_args), env=env).returncode


if __name__ == "__main__":
    sys.exit(run_job(sys.argv[1:]))
