"""Change data capture benchmark (issue 18): CDC vs the incremental extract for the same changes,
and commit-to-silver latency under a sustained change rate.

1. seed ``bench_cdc`` at SF (default 1), fresh; two copies of the shipped pipeline over it: the
   shipped one (inventory, orders, order_details incremental, deletes found by comparing every
   source key) and one whose three tables have ``cadence: cdc``; both load the tables in full
   (the CDC one: the snapshot its slots export).
2. One day of activity touching ~``--rate`` of the rows inside D1's window; then, side by side,
   the incremental run of D1 and the CDC run, bronze + silver of the three tables, in this process
   (``spark_jobs.jobs.dispatch``, the argv the DAG renders). Reported: in-job seconds per table
   (step results) and the ratio CDC / incremental.
3. Latency: a writer commits ``--changes-per-second`` (transactions of 10 order updates) for
   ``--seconds`` while CDC runs of ``orders`` (extract, write_bronze, silver) follow each other;
   each change's latency is its silver commit (the run's silver step end) minus its source commit
   (``_commit_timestamp``). Reported: p50 / p95 / max, runs, changes.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import shutil
import sys
import threading
import time
from dataclasses import replace
from pathlib import Path

import jinja2
import psycopg
import yaml

from benchmarks.results import save
from lakehouse_airflow.build.intervals import manual_interval, source_window
from lakehouse_airflow.config import PipelineConfig, load_pipeline, with_absolute_sql_paths
from lakehouse_airflow.config.sources import SourceConfig
from lakehouse_airflow.describe.pipeline import bronze_specs, location, silver_spec
from lakehouse_airflow.describe.tasks import SparkTask
from lakehouse_airflow.operators.secrets import jdbc_env
from lakehouse_airflow.paths import PROJECT_ROOT
from lakehouse_contract import naming
from lakehouse_contract.naming import cdc_slot
from lakehouse_contract.run import UPSTREAM_STATES
from seed.activity import ActivityRequest, apply_activity
from seed.load import SeedRequest, seed_database
from spark_jobs.jobs import dispatch

SCHEMA = "bench_cdc"
TABLES = ("inventory", "orders", "order_details")
STEPS = ("extract", "write_bronze")


def _pipeline(folder: Path, cdc: bool) -> PipelineConfig:
    shipped = PROJECT_ROOT / "include/pipelines/inventory.yaml"
    raw = with_absolute_sql_paths(yaml.safe_load(shipped.read_text()), shipped)
    raw["source"]["schema"], raw["retries"] = SCHEMA, 0
    raw["dag_id"] = "bench_cdc" if cdc else "bench_inc"
    for t in TABLES:
        raw["tables"][t]["silver"]["foreign_keys"] = {}  # the parents are not loaded here
        if cdc:
            raw["tables"][t]["cadence"] = "cdc"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "p.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_pipeline(folder / "p.yaml")


def _argv(cfg: PipelineConfig, task: SparkTask, lake: Path, run_id: str, day: dt.date, mode: str) -> list[str]:
    """The task's argv as Airflow renders it for a run of ``day`` (the DAG's own data interval)."""
    start, end = manual_interval(cfg, day.isoformat())
    context = {
        "dag": {"dag_id": cfg.dag_id}, "run_id": run_id, "ds": day.isoformat(),
        "data_interval_start": start, "data_interval_end": end, "params": {"tables": [], "mode": mode},
        "ti": {"try_number": 1, "xcom_pull": lambda **_: ""},
    }  # fmt: skip
    moved = replace(task, spec=replace(task.spec, location=replace(task.spec.location, root=str(lake))))
    env = jinja2.Environment(undefined=jinja2.StrictUndefined)
    args = [env.from_string(a).render(context) for a in moved.argv()]
    if task.upstream_chain:
        args += [UPSTREAM_STATES, ",".join(f"{u.rsplit('.', 1)[-1]}=success" for u in task.upstream_chain)]
    return args


def _step(cfg: PipelineConfig, task: SparkTask, lake: Path, run_id: str, day: dt.date, mode: str) -> float:
    if dispatch(_argv(cfg, task, lake, run_id, day, mode)) != 0:
        raise RuntimeError(f"{task.full_id} failed for {run_id}")
    doc = json.loads(
        Path(lake, "_control/step_results", cfg.dag_id, run_id, task.table, f"{task.step}.json").read_text()
    )
    return float(doc["finished_at"] - doc["started_at"])


def run_tables(cfg: PipelineConfig, lake: Path, run_id: str, day: dt.date, mode: str = "incremental") -> dict:
    """Bronze (extract, write_bronze) then silver of each table: in-job seconds per table."""
    out: dict[str, float] = {}
    for table in TABLES:
        tasks = {s.task_id: s for s in bronze_specs(cfg, cfg.tables[table]) if isinstance(s, SparkTask)}
        seconds = sum(_step(cfg, tasks[step], lake, run_id, day, mode) for step in STEPS)
        silver = SparkTask(group=cfg.lakehouse.silver_schema, task_id=table, layer="silver", table=table,
                           step="silver", spec=silver_spec(cfg, cfg.tables[table]))  # fmt: skip
        out[table] = round(seconds + _step(cfg, silver, lake, run_id, day, mode), 2)
    return out


def _writer(dsn: str, per_second: int, seconds: float, stop: threading.Event, done: list[int]) -> None:
    """Transactions of 10 order updates at ``per_second`` changes per second."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        ids = [r[0] for r in conn.execute(f"SELECT order_id FROM {SCHEMA}.orders ORDER BY order_id LIMIT 5000")]
        start, n = time.monotonic(), 0
        while not stop.is_set() and time.monotonic() - start < seconds:
            batch = [ids[(n + i) % len(ids)] for i in range(10)]
            conn.execute(f"UPDATE {SCHEMA}.orders SET updated_at = now()::timestamp WHERE order_id = ANY(%s)", (batch,))
            n += 10
            ahead = n / per_second - (time.monotonic() - start)
            if ahead > 0:
                time.sleep(ahead)
        done.append(n)


def latency(cfg: PipelineConfig, lake: Path, dsn: str, per_second: int, seconds: float) -> dict:
    from pyspark.sql import functions as F

    from spark_jobs.runtime.session import get_spark

    stop, written = threading.Event(), list[int]()
    writer = threading.Thread(target=_writer, args=(dsn, per_second, seconds, stop, written))
    writer.start()
    finished: dict[str, float] = {}
    tasks = {s.task_id: s for s in bronze_specs(cfg, cfg.tables["orders"]) if isinstance(s, SparkTask)}
    silver = SparkTask(group=cfg.lakehouse.silver_schema, task_id="orders", layer="silver", table="orders",
                       step="silver", spec=silver_spec(cfg, cfg.tables["orders"]))  # fmt: skip
    day, n = dt.date(2026, 11, 22), 0
    while writer.is_alive() or n == 0:
        run_id = f"bench_latency_{n}"
        for task in (tasks["extract"], tasks["write_bronze"], silver):
            _step(cfg, task, lake, run_id, day, "incremental")
        finished[run_id] = time.time()
        n += 1
    run_id = f"bench_latency_{n}"  # the last changes
    for task in (tasks["extract"], tasks["write_bronze"], silver):
        _step(cfg, task, lake, run_id, day, "incremental")
    finished[run_id] = time.time()
    writer.join()
    where = replace(location(cfg), root=str(lake))
    bronze = get_spark("bench").read.format("delta").load(where.path(naming.bronze(where.schemas, "orders")))
    rows = (
        bronze.where(F.col("_batch_id").startswith("bench_latency_"))
        .select("_batch_id", F.unix_micros("_commit_timestamp").alias("committed"))
        .collect()
    )
    waits = sorted(finished[r["_batch_id"]] - r["committed"] / 1e6 for r in rows)
    pick = lambda q: round(waits[min(len(waits) - 1, int(q * len(waits)))], 2)  # noqa: E731
    return {"changes": len(waits), "written": sum(written), "runs": n + 1, "p50_s": pick(0.5),
            "p95_s": pick(0.95), "max_s": round(waits[-1], 2)}  # fmt: skip


def _drop_slots(dsn: str, cfg: PipelineConfig) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for t in TABLES:
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                         (cdc_slot(cfg.dag_id, t),))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.cdc", description=__doc__.split("\n\n")[0])
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--rate", type=float, default=0.01)
    p.add_argument("--changes-per-second", type=int, default=500)
    p.add_argument("--seconds", type=float, default=120.0)
    args = p.parse_args(argv)
    dsn = os.environ["AIRFLOW_CONN_INVENTORY_SOURCE"]
    work = PROJECT_ROOT / ".local" / "bench-cdc"
    shutil.rmtree(work, ignore_errors=True)
    inc, cdc = _pipeline(work / "inc", cdc=False), _pipeline(work / "cdc", cdc=True)
    assert isinstance(inc.source, SourceConfig)
    os.environ.update(jdbc_env(inc.source.conn_id))  # what the operator hands the jobs
    _drop_slots(dsn, cdc)  # slots of an earlier run would hold the WAL
    seed_database(SeedRequest(dsn, SCHEMA, args.sf, 42), force=True)
    d0, d1 = dt.date(2026, 11, 20), dt.date(2026, 11, 21)
    full = {"incremental": run_tables(inc, work / "lake-inc", "full", d0, "full"),
            "cdc": run_tables(cdc, work / "lake-cdc", "full", d0, "full")}  # fmt: skip
    activity = apply_activity(ActivityRequest(dsn, SCHEMA, *source_window(inc, str(d1)), rate=args.rate))
    day = {"incremental": run_tables(inc, work / "lake-inc", "day", d1),
           "cdc": run_tables(cdc, work / "lake-cdc", "day", d1)}  # fmt: skip
    report: dict[str, object] = {
        "sf": args.sf,
        "activity": {"inserted": activity.inserted, "updated": activity.updated,
                     "deleted": {t: len(k) for t, k in activity.deleted.items()}},
        "full_load_s": full,
        "day_s": day,
        "day_ratio_cdc_over_incremental": {
            t: round(day["cdc"][t] / day["incremental"][t], 3) for t in TABLES
        },
        "latency": latency(cdc, work / "lake-cdc", dsn, args.changes_per_second, args.seconds),
    }  # fmt: skip
    save(f"cdc-sf{args.sf}", report)
    _drop_slots(dsn, cdc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
