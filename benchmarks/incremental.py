"""Incremental vs full benchmark (issue target: order_details bronze + silver <= 0.25 of full).

1. seed ``bench_inc`` at SF (default 1), fresh;
2. full load: the whole DAG through ``airflow dags test`` for D0 (incremental tables load in full
   the first time);
3. one day of source activity touching ~1% of rows (inserts, updates, deletes) inside D1's window;
4. the incremental run of D1 through ``airflow dags test``;
5. the run of D2, a day in which the source did not change (``--quiet-day ''`` leaves it out):
   what an empty window costs, and which steps kept what an earlier run built.

Reports, for order_details bronze (extract + write_bronze) + silver and for the whole DAG,
incremental / full: in-job seconds (from the audit log) and whole-task seconds (Airflow's task
durations, process start-up included), plus the DAG wall times; the Delta commits each run made
(log entries of every table), whole-task and in-job seconds per layer, the incremental run's slowest
tasks and the peak memory of the project's processes during each run (``benchmarks.memory``).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import time
from pathlib import Path

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from benchmarks.memory import PeakMemory
from benchmarks.pipeline import dags_test, per_layer, pipelines_dir, task_seconds
from benchmarks.results import save
from benchmarks.task_cost import task_phases
from lakehouse_airflow.build.intervals import source_window
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.paths import PROJECT_ROOT
from lakehouse_contract import naming
from lakehouse_contract.naming import Location, Schemas
from seed.activity import ActivityRequest, apply_activity
from seed.load import SeedRequest, seed_database
from seed.volumes import BASE_ROWS, rows_for

SCHEMA = "bench_inc"
FOCUS = ("order_details.extract", "order_details.write_bronze", "inventory_silver.order_details")


def _audit(lake: Path) -> DataFrame:
    """The lakehouse's audit log."""
    from spark_jobs.runtime.session import get_spark

    return get_spark("bench").read.format("delta").load(Location(str(lake)).path(naming.audit_log(Schemas())))


def _audit_rows(lake: Path) -> list[tuple[str, str, str, float]]:
    """(run id, target, layer, in-job seconds) of every audit row, read once."""
    rows = _audit(lake).select("job_run_id", "target_table", "layer", "processing_time").collect()
    return [(r[0], r[1], r[2], float(r[3] or 0)) for r in rows]


def _in_job(rows: list[tuple[str, str, str, float]]) -> dict[str, dict[str, float]]:
    """run id -> {target: in-job seconds}."""
    out: dict[str, dict[str, float]] = {}
    for run_id, target, _, seconds in rows:
        out.setdefault(run_id, {})[target] = seconds
    return out


def _run_id(lake: Path, date: str) -> str:
    return _audit(lake).where(F.col("logical_date") == date).select("job_run_id").first()["job_run_id"]


def _commits(lake: Path) -> int:
    """Delta commits in the lakehouse so far (every table's log entries)."""
    return sum(1 for _ in lake.glob("**/_delta_log/*.json"))


def run_log(sf: float, run: str) -> Path:
    """The ``airflow dags test`` log of the benchmark's full, incremental or quiet run at ``sf``."""
    name = {"full": "full", "quiet": "quiet"}.get(run, "day")
    return PROJECT_ROOT / ".local" / "logs" / f"bench-inc-{name}-sf{sf}.log"


def _layers(rows: list[tuple[str, str, str, float]], run_id: str) -> dict[str, float]:
    """In-job seconds of one run per layer (bronze / silver / gold)."""
    out: dict[str, float] = {}
    for run, _, layer, seconds in rows:
        if run == run_id:
            out[layer] = out.get(layer, 0.0) + seconds
    return {layer: round(seconds, 1) for layer, seconds in out.items()}


def measure_day_pair(
    sf: float, full_date: str, day: str, rate: float, quiet_day: str | None = None
) -> dict[str, object]:
    """Seed at ``sf``, full load of ``full_date``, a day of activity, the incremental run of ``day``;
    the peak memory of the project's processes is sampled during each of the two DAG runs. With
    ``quiet_day``, then the run of that day with no activity at all (an empty window)."""
    dsn = os.environ["AIRFLOW_CONN_INVENTORY_SOURCE"]
    started = time.perf_counter()
    seed_database(SeedRequest(dsn, SCHEMA, sf, 42), force=True)
    seed_s = time.perf_counter() - started
    state = PROJECT_ROOT / ".local"
    lake, pipelines = state / "bench-inc-lake", pipelines_dir(state, SCHEMA)
    shutil.rmtree(lake, ignore_errors=True)
    with PeakMemory(PROJECT_ROOT) as mem_full:
        rc_full, wall_full = dags_test(lake, pipelines, full_date, run_log(sf, "full"))
    commits_full = _commits(lake)
    activity = apply_activity(
        ActivityRequest(dsn, SCHEMA, *source_window(load_pipeline(pipelines / "inventory.yaml"), day), rate=rate)
    )
    with PeakMemory(PROJECT_ROOT) as mem_inc:
        rc_inc, wall_inc = dags_test(lake, pipelines, day, run_log(sf, "incremental"))
    commits_inc = _commits(lake) - commits_full
    quiet = _quiet(lake, pipelines, sf, quiet_day, wall_full) if quiet_day else {}
    full_id, inc_id = _run_id(lake, full_date), _run_id(lake, day)
    audit = _audit_rows(lake)
    jobs = _in_job(audit)
    tasks = {"full": task_seconds(full_id), "incremental": task_seconds(inc_id)}
    targets = (str(naming.bronze(Schemas(), "order_details")), str(naming.silver(Schemas(), "order_details")))
    focus_job = {k: sum(jobs[r].get(t, 0) for t in targets) for k, r in (("full", full_id), ("incremental", inc_id))}
    focus_task = {k: sum(v.get(t, 0) for t in FOCUS) for k, v in tasks.items()}
    return {
        "sf": sf, "source_rows": sum(rows_for(t, sf) for t in BASE_ROWS), "seed_s": round(seed_s, 1),
        "rc_full": rc_full, "rc_incremental": rc_inc,
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
        "peak_memory": {"full": mem_full.report(), "incremental": mem_inc.report()},
        "task_phases": {k: task_phases(run_log(sf, k)) for k in ("full", "incremental")},
        "tasks_s_per_layer": {k: {layer: round(s, 1) for layer, s in per_layer(v).items()} for k, v in tasks.items()},
        "in_job_s_per_layer": {"full": _layers(audit, full_id), "incremental": _layers(audit, inc_id)},
        "slowest_incremental_tasks_s": dict(sorted(((t, round(s, 1)) for t, s in tasks["incremental"].items()),
                                                   key=lambda kv: -kv[1])[:12]),
        **quiet,
    }  # fmt: skip


def _quiet(lake: Path, pipelines: Path, sf: float, day: str, wall_full: float) -> dict[str, object]:
    """The run of a day in which the source did not change: what an empty window costs."""
    commits = _commits(lake)
    rc, wall = dags_test(lake, pipelines, day, run_log(sf, "quiet"))
    run_id = _run_id(lake, day)
    modes = _load_modes(lake, run_id)
    return {
        "rc_quiet": rc,
        "quiet_day": {"dag_wall_s": round(wall, 1), "dag_wall_ratio_to_full": round(wall / wall_full, 3),
                      "delta_commits": _commits(lake) - commits,
                      "tasks_s_per_layer": {k: round(v, 1) for k, v in per_layer(task_seconds(run_id)).items()},
                      "steps_kept": sorted(t for t, m in modes.items() if m == "unchanged"),
                      "steps_run": sorted(t for t, m in modes.items() if m != "unchanged")},
    }  # fmt: skip


def _load_modes(lake: Path, run_id: str) -> dict[str, str]:
    """Audit target -> load mode of one run (``unchanged``: the step kept what an earlier run built)."""
    rows = _audit(lake).where(F.col("job_run_id") == run_id).select("target_table", "layer", "load_mode").collect()
    return {f"{r['layer']}:{r['target_table']}": str(r["load_mode"]) for r in rows}


def day_pair_arguments(p: argparse.ArgumentParser) -> None:
    """The full load's date, the incremental day and the share of rows the day changes."""
    p.add_argument("--full-date", default="2026-11-20")
    p.add_argument("--day", default="2026-11-21")
    p.add_argument("--rate", type=float, default=0.01)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.incremental")
    p.add_argument("--sf", type=float, default=1.0)
    day_pair_arguments(p)
    p.add_argument("--quiet-day", default="2026-11-22", help="then a day with no activity ('' to skip)")
    args = p.parse_args(argv)
    report = measure_day_pair(args.sf, args.full_date, args.day, args.rate, args.quiet_day or None)
    save(f"incremental-sf{args.sf}", report)
    return 0 if report["rc_full"] == report["rc_incremental"] == report.get("rc_quiet", 0) == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
