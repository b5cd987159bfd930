"""Single entry point for every Spark job: ``run.py <job> [job args...]``.

Submitted as-is by ``spark-submit`` locally and as the ``python_file`` of a Databricks
``spark_python_task``; the job name selects a module in :mod:`spark_jobs.jobs`.
"""

from __future__ import annotations

import sys
from pathlib import Path

if __package__ in (None, ""):  # run as a script: make the project root importable
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from spark_jobs.runtime.syspath import prefer_installed_pyspark

prefer_installed_pyspark()  # before anything imports pyspark

from spark_jobs.jobs import dispatch  # noqa: E402
from spark_jobs.runtime.session import exit_process  # noqa: E402

if __name__ == "__main__":
    exit_process(dispatch(sys.argv[1:]))  # a failed job raised: Python's own exit, with its traceback
