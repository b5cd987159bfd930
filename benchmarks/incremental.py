"""Incremental vs full benchmark (issue target: order_details bronze + silver <= 0.25 of full).

1. seed ``bench_inc`` at SF (default 1), fresh;
2. full load: the whole DAG through ``airflow dags test`` for D0 (incremental tables load in full
   the first time);
3. one day of source activity touching ~1% of rows (inserts, updates, deletes) inside D1's window;
4. the incremental run of D1 through ``airflow dags test``.

Reports, for order_details bronze (extract + write_bronze) + silver and for the whole DAG,
incremental / full: in-job seconds (from the audit log) and whole-task seconds (Airflow's task
durations, process start-up included), plus the DAG wall times; the Delta commits each run made
(log entries of every table), whole-task seconds per layer and the incremental run's slowest tasks.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from pyspark.sql import functions as F

from benchmarks.pipeline import dags_test, per_layer, pipelines_dir, task_seconds
from benchmarks.results import save
from lakehouse_airflow.build.intervals import source_window
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.paths import PROJECT_ROOT
from lakehouse_contract import naming
from lakehouse_contract.naming import Location, Schemas
from seed.activity import ActivityRequest, apply_activity
from seed.load import SeedRequest, seed_database

SCHEMA = "bench_inc"
FOCUS = ("order_details.extract", "order_details.write_bronze", "inventory_silver.order_details")


def _in_job(lake: Path) -> dict[str, dict[str, float]]:
    """run id -> {target: in-job seconds} from the audit log."""
    from spark_jobs.runtime.session import get_spark

    audit = get_spark("bench").read.format("delta").load(Location(str(lake)).path(naming.audit_log(Schemas())))
    out: dict[str, dict[str, float]] = {}
    for r in audit.select("job_run_id", "target_table", F.col("processing_time")).collect():
        out.setdefault(r["job_run_id"], {})[r["target_table"]] = float(r["processing_time"] or 0)
    return out


def _run_id(lake: Path, date: str) -> str:
    from spark_jobs.runtime.session import get_spark

    audit = get_spark("bench").read.format("delta").load(Location(str(lake)).path(naming.audit_log(Schemas())))
    return audit.where(F.col("logical_date") == date).select("job_run_id").first()["job_run_id"]


def _commits(lake: Path) -> int:
    """Delta commits in the lakehouse so far (every table's log entries)."""
    return sum(1 for _ in lake.glob("**/_delta_log/*.json"))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.incremental")
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--full-date", default="2026-11-20")
    p.add_argument("--day", default="2026-11-21")
    p.add_argument("--rate", type=float, default=0.01)
    args = p.parse_args(argv)
    dsn = os.environ["AIRFLOW_CONN_INVENTORY_SOURCE"]
    seed_database(SeedRequest(dsn, SCHEMA, args.sf, 42), force=True)
    state = PROJECT_ROOT / ".local"
    lake, pipelines = state / "bench-inc-lake", pipelines_dir(state, SCHEMA)
    shutil.rmtree(lake, ignore_errors=True)
    logs = state / "logs"
    rc_full, wall_full = dags_test(lake, pipelines, args.full_date, logs / f"bench-inc-full-sf{args.sf}.log")
    commits_full = _commits(lake)
    activity = apply_activity(
        ActivityRequest(
            dsn, SCHEMA, *source_window(load_pipeline(pipelines / "inventory.yaml"), args.day), rate=args.rate
        )
    )
    rc_inc, wall_inc = dags_test(lake, pipelines, args.day, logs / f"bench-inc-day-sf{args.sf}.log")
    commits_inc = _commits(lake) - commits_full
    full_id, inc_id = _run_id(lake, args.full_date), _run_id(lake, args.day)
    jobs = _in_job(lake)
    tasks = {"full": task_seconds(full_id), "incremental": task_seconds(inc_id)}
    targets = (str(naming.bronze(Schemas(), "order_details")), str(naming.silver(Schemas(), "order_details")))
    focus_job = {k: sum(jobs[r].get(t, 0) for t in targets) for k, r in (("full", full_id), ("incremental", inc_id))}
    focus_task = {k: sum(v.get(t, 0) for t in FOCUS) for k, v in tasks.items()}
    report = {
        "sf": args.sf, "rc_full": rc_full, "rc_incremental": rc_inc,
        "activity": {"inserted": activity.inserted, "updated": activity.updated,
                     "deleted": {t: len(k) for t, k in activity.deleted.items()}},
        "order_details_in_job_s": {k: round(v, 1) for k, v in focus_job.items()},
        "order_details_in_job_ratio": round(focus_job["incremental"] / focus_job["full"], 3),
        "order_details_tasks_s": {k: round(v, 1) for k, v in focus_task.items()},
        "order_details_tasks_ratio": round(focus_task["incremental"] / focus_task["full"], 3),
        "dag_wall_s": {"full": round(wall_full, 1), "incremental": round(wall_inc, 1)},
        "dag_wall_ratio": round(wall_inc / wall_full, 3),
        "dag_in_job_ratio": round(sum(jobs[inc_id].values()) / sum(jobs[full_id].values()), 3),
        "delta_commits": {"full": commits_full, "incremental": commits_inc},
        "tasks_s_per_layer": {k: {layer: round(s, 1) for layer, s in per_layer(v).items()} for k, v in tasks.items()},
        "slowest_incremental_tasks_s": dict(sorted(((t, round(s, 1)) for t, s in tasks["incremental"].items()),
                                                   key=lambda kv: -kv[1])[:12]),
    }  # fmt: skip
    save(f"incremental-sf{args.sf}", report)
    return 0 if rc_full == rc_inc == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
