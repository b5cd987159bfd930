"""spark-submit settings for the local backend.

With ``LAKEHOUSE_SPARK_REMOTE`` (the default set up by ``make``) jobs are thin Spark Connect
clients of the project's warm local Spark server: the submitted JVM only hosts the Python
process, so it runs with a small, fast-starting JIT and needs no packages. Both JVMs that
``spark-submit`` starts (its launcher, then the client) map a class-data-sharing archive that
``scripts/localspark.sh up`` dumps once per Java/Spark version (``CDS_DIR``): about 1 s less per
task. A missing or stale archive is ignored by the JVM (``-Xshare:auto``), never an error.
Without ``LAKEHOUSE_SPARK_REMOTE``, every job starts its own local Spark with Delta and the
PostgreSQL driver from ``--packages``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from lakehouse_airflow.paths import PROJECT_ROOT

DEFAULT_PACKAGES = "io.delta:delta-spark_4.2_2.13:4.4.0,org.postgresql:postgresql:42.7.8"
CLIENT_JVM_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto"
# Maven jars: outside the clone, shared by every clone on the machine (scripts/spark_packages.sh)
IVY_DIR = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "inventory-lakehouse" / "ivy"
CDS_DIR = Path(os.environ.get("LAKEHOUSE_CDS_DIR", PROJECT_ROOT / ".cache" / "cds"))


def client_jvm_options(jvm: str) -> str:
    """JVM options of ``jvm`` (``launcher`` or ``client``) with its class-data-sharing archive."""
    return f"{CLIENT_JVM_OPTIONS} -XX:SharedArchiveFile={CDS_DIR / f'{jvm}.jsa'}"


def spark_submit_settings() -> dict[str, Any]:
    conf = {"spark.ui.enabled": "false", "spark.sql.session.timeZone": "UTC"}
    if os.environ.get("LAKEHOUSE_SPARK_REMOTE", "").strip():
        conf["spark.driver.extraJavaOptions"] = client_jvm_options("client")
        return {"conf": conf, "env_vars": {"SPARK_LAUNCHER_OPTS": client_jvm_options("launcher")}}
    conf.update(
        {
            "spark.jars.ivy": os.environ.get("LAKEHOUSE_IVY_DIR", str(IVY_DIR)),
            "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
            "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
            "spark.sql.shuffle.partitions": "4",
            "spark.sql.sources.parallelPartitionDiscovery.parallelism": "8",  # VACUUM listings
            "spark.sql.parquet.outputTimestampType": "TIMESTAMP_MICROS",  # as the local server writes
        }
    )
    return {"conf": conf, "packages": os.environ.get("LAKEHOUSE_SPARK_PACKAGES", DEFAULT_PACKAGES)}
