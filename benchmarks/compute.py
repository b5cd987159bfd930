"""Compute-mode benchmark: the whole inventory DAG on the Databricks backend against the local
emulator, once per compute mode (``per_task``: the ``emulated`` environment; ``shared_cluster``:
``emulated_shared``; ``workflow``: ``emulated_workflow``), beside the local backend's run of the
same date.

Per mode, from the emulator's meter (``GET /api/2.0/emulator/meter``; a simulated cluster start of
``--cluster-start-seconds``, default 240, accounted on the emulator's clock, not slept): clusters
launched, cluster-seconds billed, the run's measured wall time, and its modelled wall time -- the
measured one plus the cluster starts a run waits for in sequence (per task: one per task on the
longest chain, extract -> write_bronze -> silver -> gold; shared cluster and workflow: one).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

from benchmarks.pipeline import pipelines_dir
from benchmarks.results import save
from lakehouse_airflow.paths import PROJECT_ROOT
from seed.load import SeedRequest, seed_database

DATE = "2026-11-20"
MODES = {"local": "local", "per_task": "emulated", "shared_cluster": "emulated_shared", "workflow": "emulated_workflow"}
CHAIN = 4  # Spark tasks on the longest chain: extract, write_bronze, silver, gold


def _emulator(root: Path, start_seconds: float) -> tuple[subprocess.Popen[str], str, str]:
    token = "dapi" + os.urandom(12).hex()
    proc = subprocess.Popen(
        [sys.executable, "-m", "databricks_emulator", "--root", str(root), "--token", token,
         "--cluster-start-seconds", str(start_seconds)],
        cwd=PROJECT_ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    line = proc.stdout.readline()
    if "listening on" not in line:
        raise RuntimeError(f"emulator did not start: {line}")
    return proc, line.split("listening on", 1)[1].strip(), token


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.compute", description=__doc__.split("\n\n")[0])
    p.add_argument("--sf", type=float, default=0.01)
    p.add_argument("--cluster-start-seconds", type=float, default=240.0)
    args = p.parse_args(argv)
    dsn = os.environ["AIRFLOW_CONN_INVENTORY_SOURCE"]
    seed_database(SeedRequest(dsn, "bench_src", args.sf, 42))
    report: dict[str, object] = {"sf": args.sf, "cluster_start_seconds": args.cluster_start_seconds}
    with tempfile.TemporaryDirectory(prefix="bench-compute-") as tmp:
        work = Path(tmp)
        proc, url, token = _emulator(work / "databricks", args.cluster_start_seconds)
        try:
            conn = {"conn_type": "databricks", "host": "127.0.0.1", "port": int(url.rsplit(":", 1)[1]),
                    "schema": "http", "password": token}  # fmt: skip
            env = {**os.environ, "AIRFLOW_CONN_DATABRICKS_EMULATOR": json.dumps(conn),
                   "LAKEHOUSE_PIPELINES_DIR": str(pipelines_dir(work))}  # fmt: skip
            subprocess.run([sys.executable, "-m", "lakehouse_airflow.databricks.deploy", "--env", "emulated",
                            "--secrets"], env=env, check=True, capture_output=True, text=True)  # fmt: skip
            meter = f"{url}/api/2.0/emulator/meter"
            headers = {"Authorization": f"Bearer {token}"}
            for mode, env_name in MODES.items():
                before = len(httpx.get(meter, headers=headers).json()["launches"])
                started = time.monotonic()
                run = subprocess.run(
                    ["airflow", "dags", "test", "inventory_lakehouse", DATE], cwd=PROJECT_ROOT,
                    env={**env, "LAKEHOUSE_ENV": env_name, "LAKEHOUSE_ROOT": str(work / f"lake-{mode}")},
                    capture_output=True, text=True,
                )  # fmt: skip
                wall = time.monotonic() - started
                if run.returncode != 0:
                    raise RuntimeError(f"{mode}: airflow dags test failed:\n{run.stdout[-3000:]}")
                launches = httpx.get(meter, headers=headers).json()["launches"][before:]
                starts_waited = {"local": 0, "per_task": CHAIN, "shared_cluster": 1, "workflow": 1}[mode]
                report[mode] = {
                    "clusters_launched": len(launches),
                    "cluster_seconds": round(sum(x["seconds"] for x in launches), 1),
                    "left_running": sum(x["running"] for x in launches),
                    "wall_s": round(wall, 1),
                    "modelled_wall_s": round(wall + starts_waited * args.cluster_start_seconds, 1),
                }
        finally:
            proc.terminate()
    save(f"compute-sf{args.sf}", report)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
