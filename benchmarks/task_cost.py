"""Where a Spark task's time goes around its job, from an ``airflow dags test`` log.

Every Spark task logs, in order: Airflow starts the task, the hook prints its command
(``scripts/spark-connect-submit`` for a Spark Connect client, else ``spark-submit``), the job logs
``<step> started`` (after the process start -- and ``spark-submit``'s two JVMs -- and the job's
Python imports, before its Spark session) and ``<step> succeeded`` (or the audit's ``audit recorded``),
Airflow ends the task. The phases summed over the run's Spark tasks:

* ``airflow_before_s``: task start -> command (templates, connections, secrets);
* ``launch_s``: command -> job started (Python start-up, the job's imports and spec; under
  ``spark-submit`` also its launcher and client JVMs);
* ``job_s``: job started -> job done (its Spark Connect session included);
* ``audit_launch_and_job_s``: command -> done of the audit tasks (their job logs no start);
* ``exit_and_airflow_after_s``: job done -> task end (Python's exit with the Connect client's
  session release, Airflow recording the task);
* ``other_tasks_s``: the tasks without a Spark job (validate_connection, summary).
"""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

_TASK = re.compile(r"\[DAG TEST\] (starting|end) (?:task )?task_id=(\S+)")
_JOB = re.compile(r'"msg": "\w+ (started|succeeded|recorded)')


def task_phases(log: Path) -> dict[str, float]:
    """Seconds per phase summed over the run's tasks (see the module doc), and the task counts."""
    names = (
        "airflow_before_s",
        "launch_s",
        "job_s",
        "audit_launch_and_job_s",
        "exit_and_airflow_after_s",
        "other_tasks_s",
    )
    phases = dict.fromkeys(names, 0.0)
    spark_tasks = launched = other_tasks = 0
    marks: dict[str, dt.datetime] = {}
    for line in log.read_text(errors="replace").splitlines():
        at = line[:26]
        if (task := _TASK.search(line)) is not None:
            when = dt.datetime.fromisoformat(at)
            if task.group(1) == "starting":
                marks = {"start": when}
                continue
            if "start" not in marks:
                continue
            if {"command", "done"} <= marks.keys():
                spark_tasks += 1
                phases["airflow_before_s"] += (marks["command"] - marks["start"]).total_seconds()
                if "started" in marks:
                    launched += 1
                    phases["launch_s"] += (marks["started"] - marks["command"]).total_seconds()
                    phases["job_s"] += (marks["done"] - marks["started"]).total_seconds()
                else:  # the audit job logs no "started": its launch and job stay together
                    phases["audit_launch_and_job_s"] += (marks["done"] - marks["command"]).total_seconds()
                phases["exit_and_airflow_after_s"] += (when - marks["done"]).total_seconds()
            else:
                other_tasks += 1
                phases["other_tasks_s"] += (when - marks["start"]).total_seconds()
            marks = {}
        elif "Spark-Submit cmd" in line and marks:
            marks["command"] = dt.datetime.fromisoformat(at)
        elif (job := _JOB.search(line)) is not None and marks:
            marks["started" if job.group(1) == "started" else "done"] = dt.datetime.fromisoformat(at)
    counts = {"airflow_before_s": spark_tasks, "exit_and_airflow_after_s": spark_tasks, "launch_s": launched}
    per_task = {f"{k[:-2]}_per_task_s": round(phases[k] / n, 2) for k, n in counts.items() if n}
    return {**{k: round(v, 1) for k, v in phases.items()}, **per_task,
            "spark_tasks": spark_tasks, "other_tasks": other_tasks}  # fmt: skip
