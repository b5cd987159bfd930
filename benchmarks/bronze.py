"""Bronze benchmark: PostgreSQL COPY vs the pipeline's extract + write_bronze for order_details.

Runs the exact commands the Airflow tasks run (the factory's settings and argv: a Spark Connect
client through ``scripts/spark-connect-submit``, or ``spark-submit``) and reports in-job seconds
(from the step results) and whole-process seconds, each the median of ``--repeat`` runs, plus
the ratios to ``COPY (SELECT * FROM order_details) TO STDOUT (FORMAT binary)``.
Two cases, each a full load (``params.mode=full``): ``first_load`` into an empty lakehouse, and
``reload``, the next day's full load over that table (its landing, slice check and MERGE-free
replace of the day's slice against an existing table).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path
from types import SimpleNamespace

import jinja2
import psycopg
import yaml

from benchmarks.results import save
from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.describe.pipeline import bronze_specs
from lakehouse_airflow.describe.tasks import SparkTask
from lakehouse_airflow.operators.secrets import jdbc_env
from lakehouse_airflow.operators.spark_env import submit_command
from lakehouse_airflow.paths import PROJECT_ROOT
from seed.load import SeedRequest, seed_database

SCHEMA = "bench_src"
BENCH_DATE = dt.date(2026, 11, 23)


def copy_seconds(dsn: str, table: str) -> float:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        with cur.copy(f"COPY (SELECT * FROM {SCHEMA}.{table}) TO STDOUT (FORMAT binary)") as copy:
            for _ in copy:
                pass
        return time.perf_counter() - start


def _render(args: list[str], run_id: str, day: dt.date) -> list[str]:
    """The task's templated argv as Airflow renders it for a full load (params.mode=full) of ``day``."""
    end = dt.datetime.combine(day, dt.time(20, 30), dt.UTC)  # 02:00 Asia/Kolkata, the DAG's schedule
    context = {
        "dag": SimpleNamespace(dag_id="bench"),
        "run_id": run_id,
        "ti": SimpleNamespace(try_number=1, xcom_pull=lambda **_: None),
        "ds": day.isoformat(),
        "params": {"mode": "full"},
        "data_interval_start": (end - dt.timedelta(days=1)).isoformat(),
        "data_interval_end": end.isoformat(),
    }
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    return [env.from_string(a).render(context) for a in args]


def run_tasks(cfg: PipelineConfig, table: str, lake: str, run_id: str, day: dt.date) -> dict[str, float]:
    """extract then write_bronze of ``table`` for ``day`` into ``lake``; in-job and whole-process seconds."""
    specs = {s.task_id: s for s in bronze_specs(cfg, cfg.tables[table]) if isinstance(s, SparkTask)}
    timings: dict[str, float] = {}
    for step in ("extract", "write_bronze"):
        task = specs[step]
        spec = replace(task.spec, dag_id="bench", location=replace(task.spec.location, root=lake))
        argv = _render(replace(task, spec=spec).argv()[1:], run_id, day)
        cmd = submit_command([step, *argv])  # the operator factory's command line
        env = {**os.environ, **jdbc_env(cfg.source.conn_id), "LAKEHOUSE_ROOT": lake}
        start = time.perf_counter()
        subprocess.run(cmd, env=env, check=True, capture_output=True)
        timings[f"{step}_process"] = time.perf_counter() - start
        result = Path(lake, "_control/step_results/bench", run_id, table, f"{step}.json")
        doc = json.loads(result.read_text())
        timings[f"{step}_job"] = doc["finished_at"] - doc["started_at"]
    return timings


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.bronze")
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--table", default="order_details")
    p.add_argument("--repeat", type=int, default=3)
    args = p.parse_args(argv)
    dsn = os.environ["AIRFLOW_CONN_INVENTORY_SOURCE"]
    raw = yaml.safe_load((PROJECT_ROOT / "include/pipelines/inventory.yaml").read_text())
    raw["source"]["schema"] = SCHEMA
    cfg = PipelineConfig.model_validate(raw)
    seed_database(SeedRequest(dsn, SCHEMA, args.sf, 42))
    lakes = PROJECT_ROOT / ".local" / "bench-lake"

    def loads(run_id: str) -> tuple[dict[str, float], dict[str, float]]:
        """A full load into an empty lakehouse, then the next day's full reload over it."""
        shutil.rmtree(lakes / run_id, ignore_errors=True)
        first = run_tasks(cfg, args.table, str(lakes / run_id), run_id, BENCH_DATE)
        again = run_tasks(cfg, args.table, str(lakes / run_id), f"{run_id}_next", BENCH_DATE + dt.timedelta(days=1))
        return first, again

    loads("warmup")  # the first jobs in a fresh server pay JIT warm-up
    copies = [copy_seconds(dsn, args.table) for _ in range(args.repeat)]
    runs = [loads(f"bench_{i}") for i in range(args.repeat)]
    shutil.rmtree(lakes, ignore_errors=True)
    copy_s = statistics.median(copies)
    report: dict[str, object] = {"table": args.table, "sf": args.sf, "copy_binary_s": round(copy_s, 2)}
    for label, measured in (("first_load", [r[0] for r in runs]), ("reload", [r[1] for r in runs])):
        med = {k: statistics.median(r[k] for r in measured) for k in measured[0]}
        whole = med["extract_process"] + med["write_bronze_process"]
        in_job = med["extract_job"] + med["write_bronze_job"]
        report[label] = {
            **{k: round(v, 2) for k, v in med.items()},
            "bronze_whole_tasks_s": round(whole, 2), "bronze_in_job_s": round(in_job, 2),
            "ratio_whole_vs_copy": round(whole / copy_s, 2), "ratio_in_job_vs_copy": round(in_job / copy_s, 2),
        }  # fmt: skip
    save(f"bronze-{args.table}-sf{args.sf}", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
