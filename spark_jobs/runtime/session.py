"""The one place a SparkSession is obtained.

* ``LAKEHOUSE_SPARK_REMOTE=sc://host:port`` set: a Spark Connect session to the project's local
  Spark server (one warm JVM shared by all tasks; see scripts/localspark.sh).
* unset: the classic session of the current process, as on Databricks or under a plain
  ``spark-submit`` that brought its own Delta/JDBC packages.
"""

from __future__ import annotations

import os

from pyspark.sql import SparkSession

REMOTE_ENV = "LAKEHOUSE_SPARK_REMOTE"


def get_spark(app_name: str) -> SparkSession:
    remote = os.environ.get(REMOTE_ENV, "").strip()
    if remote:
        # spark-submit exports MASTER for the (idle) driver JVM; a Connect client must not see it.
        os.environ.pop("MASTER", None)
        os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
        return SparkSession.builder.remote(remote).getOrCreate()
    return SparkSession.builder.appName(app_name).getOrCreate()
