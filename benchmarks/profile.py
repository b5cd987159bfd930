"""Where a task's time goes: every Spark task of a full day and of an incremental day, in process.

The tasks run through the test suite's in-process runner (``tests/support/inprocess.py``: the
DAG's own specs and argument lists against the shared Spark Connect server, no process
start, no Airflow), so each task's seconds are its job's alone. The tasks named by ``--profile``
run under cProfile in the incremental day; ``.local/profile/<task>.txt`` lists their calls by
cumulative time (a Spark Connect job's time shows as the client call that waited for it).

    scripts/with-env python -m benchmarks.profile --sf 0.2 --profile inventory_silver.order_details
"""

from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import shutil
import sys
import time
from collections import defaultdict

from benchmarks.incremental import day_pair_arguments
from benchmarks.pipeline import pipelines_dir
from benchmarks.results import save
from lakehouse_airflow.build.intervals import source_window
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.paths import PROJECT_ROOT
from seed.activity import ActivityRequest, apply_activity
from seed.load import SeedRequest, seed_database

sys.path.insert(0, str(PROJECT_ROOT / "tests"))
from support.inprocess import Run, run_task, spark_specs

SCHEMA = "bench_profile"


def _kind(task_id: str) -> str:
    return "silver" if "_silver." in task_id else "gold" if "_gold." in task_id else task_id.rsplit(".", 1)[-1]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.profile")
    p.add_argument("--sf", type=float, default=0.2)
    day_pair_arguments(p)
    p.add_argument("--profile", default="inventory_silver.order_details", help="task ids, comma separated")
    args = p.parse_args(argv)
    dsn = os.environ["AIRFLOW_CONN_INVENTORY_SOURCE"]
    state = PROJECT_ROOT / ".local"
    lake, out = state / "bench-profile-lake", state / "profile"
    cfg = load_pipeline(pipelines_dir(state, SCHEMA) / "inventory.yaml")
    profiled = set(args.profile.split(","))
    seed_database(SeedRequest(dsn, SCHEMA, args.sf, 42), force=True)
    shutil.rmtree(lake, ignore_errors=True)
    out.mkdir(parents=True, exist_ok=True)

    def day(run: Run, profile: bool) -> dict[str, float]:
        seconds = {}
        for spec in spark_specs(cfg, run):
            profiler = cProfile.Profile() if profile and spec.full_id in profiled else None
            start = time.perf_counter()
            if profiler:
                profiler.enable()
            run_task(cfg, spec, run, lake)
            seconds[spec.full_id] = round(time.perf_counter() - start, 2)
            if profiler:
                profiler.disable()
                listing = io.StringIO()
                pstats.Stats(profiler, stream=listing).sort_stats("cumulative").print_stats(80)
                (out / f"{spec.full_id}.txt").write_text(listing.getvalue())
        return seconds

    full = day(Run(args.full_date, f"profile_full_{int(time.time())}"), profile=False)
    apply_activity(ActivityRequest(dsn, SCHEMA, *source_window(cfg, args.day), rate=args.rate))
    incremental = day(Run(args.day, f"profile_day_{int(time.time())}"), profile=True)
    per_kind: dict[str, dict[str, float]] = defaultdict(lambda: {"full": 0.0, "incremental": 0.0})
    for name, runs in (("full", full), ("incremental", incremental)):
        for task, s in runs.items():
            per_kind[_kind(task)][name] = round(per_kind[_kind(task)][name] + s, 1)
    save(f"profile-sf{args.sf}", {
        "sf": args.sf,
        "in_process_s": {"full": round(sum(full.values()), 1), "incremental": round(sum(incremental.values()), 1)},
        "per_kind_s": dict(per_kind),
        "slowest_incremental_tasks_s": dict(sorted(incremental.items(), key=lambda kv: -kv[1])[:12]),
        "profiles": [str(out / f"{t}.txt") for t in sorted(profiled)],
    })  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
