"""Whole-DAG benchmark: the shipped pipeline through ``airflow dags test`` at a scale factor.

Reports the wall time of the run and, per layer (bronze / silver / gold), the sum of task
durations as Airflow measured them (whole tasks: process start-up included) and the sum of
in-job seconds from the audit log, so the README can say where the time goes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import psycopg
import yaml

from benchmarks.results import save
from lakehouse_airflow.config import with_absolute_sql_paths
from lakehouse_airflow.paths import PROJECT_ROOT
from lakehouse_contract import naming
from lakehouse_contract.naming import Location, Schemas
from seed.load import SeedRequest, seed_database

SCHEMA = "bench_src"
DAG_ID = "inventory_lakehouse"


def pipelines_dir(root: Path, schema: str = SCHEMA) -> Path:
    """The shipped pipeline pointed at ``schema``, retries off, in ``root/bench-pipelines-<schema>``."""
    shipped = PROJECT_ROOT / "include/pipelines/inventory.yaml"
    raw = with_absolute_sql_paths(yaml.safe_load(shipped.read_text()), shipped)
    raw["source"]["schema"] = schema
    raw["retries"] = 0
    folder = root / f"bench-pipelines-{schema}"
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    (folder / "inventory.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder


def _layer(task_id: str) -> str:
    group = task_id.split(".")[0]
    return {"inventory_silver": "silver", "inventory_gold": "gold"}.get(group, "bronze")


def task_seconds(run_id: str) -> dict[str, float]:
    """Task id -> duration as Airflow recorded it (whole task, process start-up included)."""
    dsn = os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            "SELECT task_id, extract(epoch FROM end_date - start_date) FROM task_instance WHERE run_id = %s",
            (run_id,),
        ).fetchall()
    return {task_id: float(seconds or 0) for task_id, seconds in rows}


def per_layer(seconds: dict[str, float]) -> dict[str, float]:
    """Task id -> seconds summed per layer (bronze / silver / gold)."""
    totals: dict[str, float] = {}
    for task_id, s in seconds.items():
        totals[_layer(task_id)] = totals.get(_layer(task_id), 0.0) + s
    return totals


def _task_seconds(run_id: str) -> dict[str, float]:
    return per_layer(task_seconds(run_id))


def dags_test(
    lake: Path | str, pipelines: Path, date: str, log: Path, conf: str | None = None, env: dict[str, str] | None = None
) -> tuple[int, float]:
    """``airflow dags test`` of the pipeline DAG for ``date`` into ``lake``: (exit code, wall seconds)."""
    env = {**os.environ, **(env or {}), "LAKEHOUSE_PIPELINES_DIR": str(pipelines), "LAKEHOUSE_ROOT": str(lake)}
    log.parent.mkdir(parents=True, exist_ok=True)
    cmd = ["airflow", "dags", "test", *(["--conf", conf] if conf else []), DAG_ID, date]
    start = time.perf_counter()
    with log.open("w") as out:
        rc = subprocess.run(cmd, env=env, stdout=out, stderr=out).returncode
    return rc, time.perf_counter() - start


def _audit_seconds(lake: Path | str) -> tuple[str, dict[str, float], dict[str, int]]:
    from spark_jobs.runtime.session import get_spark

    spark = get_spark("bench-report")
    audit = spark.read.format("delta").load(Location(str(lake)).path(naming.audit_log(Schemas())))
    rows = audit.groupBy("job_run_id", "layer", "status").agg({"processing_time": "sum", "*": "count"}).collect()
    run_id = rows[0]["job_run_id"]
    seconds = {r["layer"]: float(r["sum(processing_time)"] or 0) for r in rows}
    failed = {r["layer"]: int(r["count(1)"]) for r in rows if r["status"] != "SUCCESS"}
    return run_id, seconds, failed


def bucket_client():
    """An S3 client with the key pair of the ``lakehouse_s3`` connection (scripts/env.sh)."""
    import boto3

    conn = json.loads(os.environ["AIRFLOW_CONN_LAKEHOUSE_S3"])
    return boto3.client("s3", endpoint_url=conn["extra"]["endpoint_url"], aws_access_key_id=conn["login"],
                        aws_secret_access_key=conn["password"], region_name="us-east-1")  # fmt: skip


def clear_bucket_prefix(uri: str) -> None:
    """Delete every object under an ``s3a://`` prefix (the benchmark's previous lakehouse there)."""
    from lakehouse_contract.storage import ObjectUri

    s3, where = bucket_client(), ObjectUri.parse(uri)
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=where.key + "/"):
        for obj in page.get("Contents", []):
            s3.delete_object(Bucket=where.bucket, Key=obj["Key"])


def measure(
    lake: Path | str, pipelines: Path, date: str, log: Path, env: dict[str, str] | None = None
) -> dict[str, object]:
    """One full run of the DAG into ``lake``: wall time, per layer whole-task and in-job seconds."""
    rc, wall = dags_test(lake, pipelines, date, log, env=env)
    run_id, in_job, failed = _audit_seconds(lake)
    whole = _task_seconds(run_id)
    return {
        "dag_rc": rc, "dag_wall_s": round(wall, 1), "run_id": run_id,
        **{f"{layer}_tasks_s": round(whole.get(layer, 0), 1) for layer in ("bronze", "silver", "gold")},
        **{f"{layer}_in_job_s": round(in_job.get(layer, 0), 1) for layer in ("bronze", "silver", "gold")},
        "startup_and_orchestration_s": round(wall - sum(in_job.values()), 1),
        "failed_audit_rows": failed,
    }  # fmt: skip


def on_cluster(lake: Path, pipelines: Path, date: str, log: Path) -> dict[str, object]:
    """The same run with the jobs' Spark on the local standalone cluster (scripts/localcluster.sh:
    master + two one-core workers) behind a second Spark Connect server, stopped afterwards."""
    state = PROJECT_ROOT / ".local" / "bench-cluster"
    port = os.environ.get("LAKEHOUSE_BENCH_CLUSTER_CONNECT_PORT", "15112")
    env = {**os.environ, "LAKEHOUSE_CLUSTER_STATE": str(state / "cluster"), "LAKEHOUSE_CLUSTER_PORT": "17177",
           "LAKEHOUSE_SPARK_STATE": str(state / "connect"),
           "LAKEHOUSE_SPARK_MASTER": "spark://127.0.0.1:17177", "LAKEHOUSE_SPARK_PORT": port}  # fmt: skip
    try:
        for script in ("localcluster.sh", "localspark.sh"):
            subprocess.run([str(PROJECT_ROOT / "scripts" / script), "up"], env=env, check=True)
        shutil.rmtree(lake, ignore_errors=True)
        return measure(lake, pipelines, date, log, env={"LAKEHOUSE_SPARK_REMOTE": f"sc://127.0.0.1:{port}"})
    finally:
        for script in ("localspark.sh", "localcluster.sh"):
            subprocess.run([str(PROJECT_ROOT / "scripts" / script), "down"], env=env, check=False)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.pipeline")
    p.add_argument("--sf", type=float, default=1.0)
    p.add_argument("--date", default="2026-11-20")
    p.add_argument("--s3", default="", help="also run the DAG with this s3a:// root (same seed, same date)")
    p.add_argument("--cluster", action="store_true", help="also run it on the local standalone Spark cluster")
    args = p.parse_args(argv)
    seed_database(SeedRequest(os.environ["AIRFLOW_CONN_INVENTORY_SOURCE"], SCHEMA, args.sf, 42))
    state = PROJECT_ROOT / ".local"
    lake = state / "bench-dag-lake"
    shutil.rmtree(lake, ignore_errors=True)
    pipelines = pipelines_dir(state)
    report: dict[str, object] = {"sf": args.sf, **measure(lake, pipelines, args.date,
                                                          state / "logs" / f"bench-dag-sf{args.sf}.log")}  # fmt: skip
    ok = report["dag_rc"] == 0
    if args.s3:
        clear_bucket_prefix(args.s3)
        on_s3 = measure(args.s3, pipelines, args.date, state / "logs" / f"bench-dag-s3-sf{args.sf}.log")
        report["s3"] = {"root": args.s3, **on_s3}
        report["s3_vs_local_wall"] = round(float(on_s3["dag_wall_s"]) / float(report["dag_wall_s"]), 2)  # type: ignore[arg-type]
        ok = ok and on_s3["dag_rc"] == 0
    if args.cluster:
        clustered = on_cluster(state / "bench-dag-lake-cluster", pipelines, args.date,
                               state / "logs" / f"bench-dag-cluster-sf{args.sf}.log")  # fmt: skip
        report["cluster"] = {"workers": "2 x 1 core", **clustered}
        report["cluster_vs_local_wall"] = round(float(clustered["dag_wall_s"]) / float(report["dag_wall_s"]), 2)  # type: ignore[arg-type]
        ok = ok and clustered["dag_rc"] == 0
    save(f"pipeline-sf{args.sf}", report)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
