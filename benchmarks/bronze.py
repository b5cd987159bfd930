"""Bronze benchmark: PostgreSQL COPY vs the pipeline's extract + write_bronze for order_details.

Runs the exact spark-submit commands the Airflow tasks run (same factory settings and argv) and
reports in-job seconds (from the step results) and whole-process seconds, each the median of
``--repeat`` runs, plus the ratios to ``COPY (SELECT * FROM order_details) TO STDOUT (FORMAT binary)``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import yaml
from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.operators import jdbc_env
from lakehouse_airflow.paths import PROJECT_ROOT, SPARK_ENTRYPOINT
from lakehouse_airflow.spark_env import spark_submit_settings
from lakehouse_airflow.specs import bronze_specs

from benchmarks.results import save
from seed.load import SeedRequest, seed_database

SCHEMA = "bench_src"


def copy_seconds(dsn: str, table: str) -> float:
    with psycopg.connect(dsn) as conn, conn.cursor() as cur:
        start = time.perf_counter()
        with cur.copy(f"COPY (SELECT * FROM {SCHEMA}.{table}) TO STDOUT (FORMAT binary)") as copy:
            for _ in copy:
                pass
        return time.perf_counter() - start


def _render(args: tuple[str, ...], run_id: str) -> list[str]:
    subs = {"{{ dag.dag_id }}": "bench", "{{ run_id }}": run_id, "{{ ti.try_number }}": "1", "{{ ds }}": "2026-11-23"}
    out = []
    for a in args:
        for k, v in subs.items():
            a = a.replace(k, v)
        out.append(a)
    return out


def _command(job: str, args: list[str]) -> list[str]:
    settings = spark_submit_settings()
    cmd = ["spark-submit", "--master", "local[1]"]
    for k, v in settings["conf"].items():  # type: ignore[union-attr]
        cmd += ["--conf", f"{k}={v}"]
    if "packages" in settings:
        cmd += ["--packages", str(settings["packages"])]
    return [*cmd, str(SPARK_ENTRYPOINT), job, *args]


def run_tasks(cfg: PipelineConfig, table: str, lake: str, run_id: str) -> dict[str, float]:
    specs = {s.task_id: s for s in bronze_specs(cfg, cfg.tables[table])}
    env = {**os.environ, **jdbc_env(cfg.source.conn_id), "LAKEHOUSE_ROOT": lake}
    timings: dict[str, float] = {}
    for step in ("extract", "write_bronze"):
        argv = _render(specs[step].args, run_id)
        argv[argv.index("--lakehouse-root") + 1] = lake
        start = time.perf_counter()
        subprocess.run(_command(step, argv), env=env, check=True, capture_output=True)
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
    lake = str(PROJECT_ROOT / ".local" / "bench-lake")
    run_tasks(cfg, args.table, lake, "warmup")  # first job in a fresh server pays JIT warm-up
    copies = [copy_seconds(dsn, args.table) for _ in range(args.repeat)]
    runs = [run_tasks(cfg, args.table, lake, f"bench_{i}") for i in range(args.repeat)]
    med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
    copy_s = statistics.median(copies)
    whole = med["extract_process"] + med["write_bronze_process"]
    in_job = med["extract_job"] + med["write_bronze_job"]
    report = {
        "table": args.table, "sf": args.sf, "copy_binary_s": round(copy_s, 2),
        **{k: round(v, 2) for k, v in med.items()},
        "bronze_whole_tasks_s": round(whole, 2), "bronze_in_job_s": round(in_job, 2),
        "ratio_whole_vs_copy": round(whole / copy_s, 2), "ratio_in_job_vs_copy": round(in_job / copy_s, 2),
    }  # fmt: skip
    save(f"bronze-{args.table}-sf{args.sf}", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
