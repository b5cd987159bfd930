"""What the jobs need at run time: the variable naming their Spark Connect server (the local
backend), and on a Databricks cluster, besides the runtime's own libraries (pyspark, delta-spark,
databricks-sdk) and the project's wheel, PyPI packages pinned as in ``requirements.txt``,
installed as cluster libraries (serverless: environment dependencies).

``psycopg`` holds an extract's reads in the source's exported snapshot and drives a CDC table's
replication slot (``spark_jobs.storage.snapshot``, ``spark_jobs.storage.cdc``).
"""

from __future__ import annotations

PYPI_REQUIREMENTS: tuple[str, ...] = ("psycopg[binary]==3.3.9",)

# ``sc://host:port`` of the Spark Connect server the local backend's jobs are clients of; unset or
# empty: a classic Spark per job (``spark-submit``), or the cluster's own on Databricks
SPARK_REMOTE_ENV = "LAKEHOUSE_SPARK_REMOTE"
