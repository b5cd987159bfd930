"""spark-submit settings for the local backend, and the command line a task runs.

With ``LAKEHOUSE_SPARK_REMOTE`` (the default set up by ``make``) jobs are thin Spark Connect
clients of the project's warm local Spark server. ``spark-submit`` would start two JVMs (its
launcher, then a client JVM that only hosts the job's Python process, ~0.8 s of every task on two
cores), so the operator's binary is ``scripts/spark-connect-submit``: the same command line, the
job run by Python alone (``spark_jobs/runtime/connect_submit.py``). Without
``LAKEHOUSE_SPARK_REMOTE``, every job is a ``spark-submit`` that starts its own local Spark with
Delta and the PostgreSQL driver from ``--packages``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lakehouse_airflow.paths import PROJECT_ROOT, SPARK_ENTRYPOINT
from lakehouse_contract.runtime import SPARK_REMOTE_ENV

DEFAULT_PACKAGES = "io.delta:delta-spark_4.2_2.13:4.4.0,org.postgresql:postgresql:42.7.8"
CONNECT_SUBMIT = PROJECT_ROOT / "scripts" / "spark-connect-submit"
# Maven jars: outside the clone, shared by every clone on the machine (scripts/spark_packages.sh)
IVY_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "inventory-lakehouse" / "ivy"


def spark_submit_settings() -> dict[str, Any]:
    """The SparkSubmitOperator arguments of the local backend: a Spark Connect client's binary, or a
    classic ``spark-submit``'s configuration and packages."""
    if os.environ.get(SPARK_REMOTE_ENV, "").strip():
        return {"spark_binary": str(CONNECT_SUBMIT)}
    conf = {
        "spark.ui.enabled": "false",
        "spark.sql.session.timeZone": "UTC",
        "spark.jars.ivy": os.environ.get("LAKEHOUSE_IVY_DIR", str(IVY_DIR)),
        "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
        "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
        "spark.sql.shuffle.partitions": "4",
        "spark.sql.sources.parallelPartitionDiscovery.parallelism": "8",  # VACUUM listings
        "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # as the local server writes
    }
    return {"conf": conf, "packages": os.environ.get("LAKEHOUSE_SPARK_PACKAGES", DEFAULT_PACKAGES)}


def submit_command(job_args: list[str]) -> list[str]:
    """The command line a task of ``job_args`` runs (what the operator's hook builds), for the
    callers that start a job themselves (``run_job``, the benchmarks)."""
    settings = spark_submit_settings()
    argv = [settings.get("spark_binary", "spark-submit"), "--master", "local[1]"]
    for key, value in settings.get("conf", {}).items():
        argv += ["--conf", f"{key}={value}"]
    if settings.get("packages"):
        argv += ["--packages", settings["packages"]]
    return [*argv, str(SPARK_ENTRYPOINT), *job_args]
