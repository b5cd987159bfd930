"""The one place a SparkSession is obtained.

* ``LAKEHOUSE_SPARK_REMOTE=sc://host:port`` set: a Spark Connect session to the project's local
  Spark server (one warm JVM shared by all tasks; see scripts/localspark.sh).
* unset: the classic session of the current process, as on Databricks or under a plain
  ``spark-submit`` that brought its own Delta/JDBC packages.

A Connect server that goes away (stopped, killed, restarted) is waited for about two minutes
(``LAKEHOUSE_SPARK_RECONNECT_RETRIES``, default 12 retries), then
the job fails with ``SparkServerUnavailableError``: pyspark's own policy retries for over ten,
which keeps a task "running" on a dead server. Airflow's retries cover longer outages.
"""

from __future__ import annotations

import logging
import os
import sys
from typing import NoReturn

from pyspark.sql import SparkSession

from lakehouse_contract.runtime import SPARK_REMOTE_ENV
from lakehouse_contract.storage import is_object_store
from spark_jobs.runtime.errors import SparkServerUnavailableError, UnsafeCommitConfigurationError

# set to `dynamodb` when classic drivers commit to S3 through Delta's S3DynamoDBLogStore
S3_LOGSTORE_ENV = "LAKEHOUSE_S3_LOGSTORE"
RECONNECT_ENV = "LAKEHOUSE_SPARK_RECONNECT_RETRIES"
# back-offs 0.05, 0.2, 0.8, 3.2, 12.8 s, then 15 s: ~2 minutes over 12 retries
RECONNECT_RETRIES, RECONNECT_MAX_BACKOFF_MS = 12, 15_000
_SERVER_GONE = ("StatusCode.UNAVAILABLE", "INVALID_HANDLE.SESSION_CHANGED", "INVALID_HANDLE.SESSION_NOT_FOUND")


def get_spark(app_name: str) -> SparkSession:
    remote = os.environ.get(SPARK_REMOTE_ENV, "").strip()
    if remote:
        # spark-submit exports MASTER for the (idle) driver JVM; a Connect client must not see it.
        os.environ.pop("MASTER", None)
        os.environ["SPARK_CONNECT_MODE_ENABLED"] = "1"
        spark = SparkSession.builder.remote(remote).getOrCreate()
        from pyspark.sql.connect.client.retries import DefaultPolicy

        retries = int(os.environ.get(RECONNECT_ENV) or RECONNECT_RETRIES)
        policy = DefaultPolicy(max_retries=retries, max_backoff=RECONNECT_MAX_BACKOFF_MS)
        spark.client.set_retry_policies([policy])  # type: ignore[attr-defined]
        # the server runs every job's queries: a tag per job names them in its UI and REST API
        # (job tags `..._Tag_<job>-<table>`), so an operator can tell the shared server's work apart
        spark.clearTags()  # one job after another in one process (tests): the current job's tag only
        spark.addTag(app_name.replace(",", "_") or "lakehouse")
        return spark
    return SparkSession.builder.appName(app_name).getOrCreate()


def exit_process(code: int) -> NoReturn:
    """End a job's process with ``code``. A Spark Connect client releases its server session
    (``SparkSession.stop``, what the client's exit handler would do), flushes its logs and exits
    at once: Python's own interpreter shutdown with the Connect client's modules loaded (gRPC,
    pandas, pyarrow) costs ~0.3 s a task and does nothing a finished job needs. A classic session
    exits the ordinary way (its JVM-side shutdown belongs to Spark)."""
    if not os.environ.get(SPARK_REMOTE_ENV, "").strip():
        sys.exit(code)
    session = SparkSession.getActiveSession()
    if session is not None:
        session.stop()
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def server_unavailable(exc: BaseException, step: str) -> SparkServerUnavailableError | None:
    """A clear error when ``exc`` means the Connect server went away (not a query error)."""
    remote = os.environ.get(SPARK_REMOTE_ENV, "").strip()
    seen: set[int] = set()
    cause: BaseException | None = exc
    while remote and cause is not None and id(cause) not in seen:
        seen.add(id(cause))
        code = getattr(cause, "getGrpcStatusCode", None)
        gone = code is not None and str(code()).endswith("UNAVAILABLE")
        if gone or any(marker in str(cause) for marker in _SERVER_GONE):
            return SparkServerUnavailableError(
                f"the Spark Connect server {remote} went away during {step} (stopped, killed or restarted); "
                "a write that did not commit left its table at the previous version: retry the task "
                "once the server is up"
            )
        cause = cause.__cause__ or cause.__context__
    return None


def require_safe_commits(root: str) -> None:
    """Refuse Delta commits to an object store that could overwrite each other.

    S3 had no put-if-absent for most of Delta's life: Delta 4.4 commits to ``s3a://`` through
    ``S3SingleDriverLogStore``, whose mutual exclusion lives in one JVM. That is safe when every
    writer goes through one Spark driver (the project's Spark Connect server, whatever the number
    of tasks; Databricks, whose commit service coordinates clusters) and loses commits when several
    drivers (one ``spark-submit`` per task) write the same table. Those need the DynamoDB log store
    (``S3DynamoDBLogStore``, delta-storage-s3-dynamodb), declared with ``LAKEHOUSE_S3_LOGSTORE=dynamodb``.
    """
    if not is_object_store(root):
        return
    if os.environ.get(SPARK_REMOTE_ENV, "").strip() or os.environ.get("DATABRICKS_RUNTIME_VERSION"):
        return
    if os.environ.get(S3_LOGSTORE_ENV, "").strip().lower() == "dynamodb":
        return
    raise UnsafeCommitConfigurationError(
        f"the lakehouse root {root} is on an object store, and this job runs its own Spark driver: "
        "Delta's S3 log store only keeps commits from overwriting each other inside one driver, so "
        "parallel tasks could lose each other's commits. Run the jobs through the shared Spark server "
        f"({SPARK_REMOTE_ENV}=sc://host:port, the default of `make`), on Databricks, or configure Delta's "
        f"S3DynamoDBLogStore and set {S3_LOGSTORE_ENV}=dynamodb"
    )
