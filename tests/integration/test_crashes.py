"""Processes killed mid-write on the real services (SIGKILL, no clean-up): the Spark Connect server
while write_bronze's tasks and silver's MERGE are writing, and the task's own job process.

The jobs run as separate processes (as the operator starts them) against a Spark Connect server of
this module's own, so killing it leaves the suite's shared server alone. A fault stalls the write's
tasks (``LAKEHOUSE_INJECT_FAULT=<step>:<table>:stall``, runtime/faults.py) so the kill lands while
data files are being written; the test checks they were. The table versions are read from the
Delta logs on disk, the rows with the suite's shared Spark session.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.operators.secrets import jdbc_env, pii_key_env
from lakehouse_contract.layout import landing_dir, step_result_path
from support.dagrun import LOAD_STAMPS, PER_RUN, lake_copy, pipeline_dir, rows, source_counts
from support.env import ROOT, free_port, sh
from support.inprocess import Run, spark_specs, task_args

TABLE = "order_details"  # the largest table
DAY = "2026-11-21"


@dataclass
class PrivateSpark:
    env: dict[str, str]
    pidfile: Path

    def kill(self) -> None:
        os.kill(int(self.pidfile.read_text().strip()), signal.SIGKILL)

    def restart(self) -> None:
        sh("scripts/localspark.sh up", env=self.env, timeout=600)


@pytest.fixture(scope="module")
def private_spark(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateSpark]:
    state = tmp_path_factory.mktemp("private_spark")
    port = free_port()
    env = {
        **stack,
        "LAKEHOUSE_STATE_DIR": str(state),
        "LAKEHOUSE_SPARK_PORT": str(port),
        "LAKEHOUSE_SPARK_MEMORY": "2g",
        "LAKEHOUSE_SPARK_REMOTE": f"sc://127.0.0.1:{port}",
        "LAKEHOUSE_SPARK_RECONNECT_RETRIES": "4",  # a job gives up on a dead server after ~4 s, not ~2 min
        "LAKEHOUSE_SPARK_DETACHED_TIMEOUT": "10s",  # a killed job's operation stops within ~20 s, not ~70
    }
    server = PrivateSpark(env, state / "spark" / "connect.pid")
    server.restart()
    try:
        yield server
    finally:
        sh("scripts/localspark.sh down", env=env, check=False)


def _start(server: PrivateSpark, cfg, task, run: Run, lake: Path, try_number: int, fault: str = "") -> subprocess.Popen:
    """The job as its own process, with what the operator puts in its environment."""
    env = {**os.environ, **server.env, **jdbc_env(cfg.source.conn_id), **pii_key_env(cfg.privacy.key_conn_id)}
    env.pop("LAKEHOUSE_INJECT_FAULT", None)
    if fault:
        env["LAKEHOUSE_INJECT_FAULT"] = fault
    args = task_args(cfg, task, run, lake, try_number)
    return subprocess.Popen(
        [sys.executable, str(ROOT / "spark_jobs" / "run.py"), *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip


def _run(server: PrivateSpark, cfg, task, run: Run, lake: Path, try_number: int) -> str:
    proc = _start(server, cfg, task, run, lake, try_number)
    out, _ = proc.communicate(timeout=600)
    assert proc.returncode == 0, out[-3000:]
    return out


def _version(table: Path) -> int:
    """The table's latest Delta version, from its log on disk (no Spark involved)."""
    return max(int(p.stem) for p in (table / "_delta_log").glob("*.json"))


def _committed_files(table: Path) -> set[str]:
    """Every data file any commit of the table added (relative paths, as the log records them)."""
    added: set[str] = set()
    for log in (table / "_delta_log").glob("*.json"):
        for line in log.read_text().splitlines():
            action = json.loads(line)
            if "add" in action:
                added.add(action["add"]["path"])
    return added


def _uncommitted_files(table: Path) -> set[str]:
    on_disk = {str(p.relative_to(table)) for p in table.rglob("*.parquet") if "_delta_log" not in p.parts}
    return on_disk - _committed_files(table)


def _wait_for(condition: Callable[[], bool], proc: subprocess.Popen, what: str, timeout: float = 180) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if proc.poll() is not None:
            out = proc.stdout.read() if proc.stdout else ""
            lines = [ln for ln in out.splitlines() if not ln.lstrip().startswith("at ")]
            pytest.fail(f"the job ended before {what}: " + "\n".join(lines)[-3000:])
        time.sleep(0.2)
    proc.kill()
    pytest.fail(f"timed out waiting for {what}")


@pytest.fixture(scope="module")
def crash_lake(first, tmp_path_factory) -> Path:
    return lake_copy(first.lake, tmp_path_factory.mktemp("crash") / "lake")


def test_server_and_job_killed_mid_write_then_retries_load_once_and_silver_survives_a_kill_mid_merge(
    private_spark: PrivateSpark, first, crash_lake: Path, spark, source_dsn
) -> None:
    cfg = load_pipeline(first.pipelines / "inventory.yaml")
    lake = crash_lake
    run = Run(DAY, f"manual__{DAY}", (TABLE,), mode="full")  # the whole table into the day's slice
    extract, write = spark_specs(cfg, run, ("bronze",))[:2]
    assert (extract.step, write.step) == ("extract", "write_bronze")
    _run(private_spark, cfg, extract, run, lake, 1)
    bronze = lake / "inventory_bronze" / f"bz_{TABLE}"
    marks = lake / "inventory_bronze" / "bz_watermarks"
    version, marks_before = _version(bronze), rows(spark, marks, set())
    stall = f"write_bronze:{TABLE}:stall"

    # 1. the Spark server dies (SIGKILL) while the write's tasks are writing data files
    job = _start(private_spark, cfg, write, run, lake, 1, fault=stall)
    _wait_for(lambda: bool(_uncommitted_files(bronze)), job, "the write started writing data files")
    private_spark.kill()
    out, _ = job.communicate(timeout=300)
    assert job.returncode != 0
    assert "write_bronze failed" in out and "Spark Connect server" in out, out[-3000:]
    assert _version(bronze) == version, "the table moved without its write completing"
    assert rows(spark, marks, set()) == marks_before, "the watermark moved"
    result = Path(step_result_path(str(lake), cfg.dag_id, run.run_id, TABLE, "write_bronze"))
    assert json.loads(result.read_text())["status"] == "FAILED"

    # 2. the server is back; the job itself is killed while its write is in flight: the server
    # interrupts the orphaned operation, which never commits
    private_spark.restart()
    job = _start(private_spark, cfg, write, run, lake, 2, fault=stall)
    before = _uncommitted_files(bronze)
    _wait_for(lambda: bool(_uncommitted_files(bronze) - before), job, "the second write started writing")
    job.send_signal(signal.SIGKILL)
    job.communicate(timeout=60)
    assert _version(bronze) == version and rows(spark, marks, set()) == marks_before

    # 3. the retry (the orphan's tasks are interrupted first: they held the server's cores) loads once
    _run(private_spark, cfg, write, run, lake, 3)
    assert _version(bronze) == version + 1, "exactly one commit: the killed writes never committed"
    day = spark.read.format("delta").load(str(bronze)).where(F.col("_logical_date") == DAY)
    keys = [r[0] for r in day.select(cfg.tables[TABLE].primary_key[0]).collect()]
    assert len(keys) == len(set(keys)) == source_counts(source_dsn)[TABLE]
    mark = spark.read.format("delta").load(str(marks)).where(F.col("table_name") == TABLE).first()
    assert mark["last_run_id"] == run.run_id

    # 4. silver: the server dies during the MERGE (the DQ results, its last commit before the
    # MERGE, are in); silver stays as it was, and the retry gives the table a clean run gives
    (silver_task,) = [t for t in spark_specs(cfg, run, ("silver",)) if t.table == TABLE]
    silver, dq = lake / "inventory_silver" / TABLE, lake / "inventory_silver" / "dq_results"
    silver_version, dq_version = _version(silver), _version(dq)
    silver_before = rows(spark, silver, set())
    job = _start(private_spark, cfg, silver_task, run, lake, 1, fault=f"silver:{TABLE}:stall")
    _wait_for(lambda: _version(dq) > dq_version, job, "silver reached its MERGE")
    time.sleep(3)
    private_spark.kill()
    out, _ = job.communicate(timeout=300)
    assert job.returncode != 0 and "silver failed" in out and "Spark Connect server" in out, out[-3000:]
    assert _version(silver) == silver_version and rows(spark, silver, set()) == silver_before
    private_spark.restart()
    _run(private_spark, cfg, silver_task, run, lake, 2)
    result = Path(step_result_path(str(lake), cfg.dag_id, run.run_id, TABLE, "silver"))
    assert json.loads(result.read_text())["status"] == "SUCCESS"
    assert rows(spark, silver, PER_RUN | LOAD_STAMPS) == rows(
        spark, first.lake / "inventory_silver" / TABLE, PER_RUN | LOAD_STAMPS
    )


def test_source_restarted_mid_extract_fails_clearly_then_the_retry_loads_once(
    private_spark: PrivateSpark, first, spark, source_dsn, tmp_path: Path
) -> None:
    """PostgreSQL (the source; here also the Airflow metadata database) restarted while extract
    reads: a clear error, bronze untouched, and the retry's load holds every key once."""
    folder = pipeline_dir(tmp_path, "inventory", lambda raw: raw["tables"][TABLE].update(fetch_size=200))
    cfg = load_pipeline(folder / "inventory.yaml")
    lake = lake_copy(first.lake, tmp_path / "lake")
    day = "2026-11-22"
    run = Run(day, f"manual__{day}", (TABLE,), mode="full")
    extract, write = spark_specs(cfg, run, ("bronze",))[:2]
    bronze = lake / "inventory_bronze" / f"bz_{TABLE}"
    version = _version(bronze)
    landing = Path(landing_dir(str(lake), TABLE, dt.date.fromisoformat(day)))
    job = _start(private_spark, cfg, extract, run, lake, 1, fault=f"extract:{TABLE}:slow")
    _wait_for(lambda: landing.exists() and any(landing.rglob("*.parquet")), job, "extract started reading")
    sh("scripts/localpg.sh down")
    sh("scripts/localpg.sh up")
    out, _ = job.communicate(timeout=300)
    assert job.returncode != 0 and "extract failed" in out, out[-3000:]
    assert "SourceConnectionLostError: the connection to the source was lost while reading" in out, out[-3000:]
    result = Path(step_result_path(str(lake), cfg.dag_id, run.run_id, TABLE, "extract"))
    assert json.loads(result.read_text())["status"] == "FAILED"
    assert _version(bronze) == version

    _run(private_spark, cfg, extract, run, lake, 2)
    _run(private_spark, cfg, write, run, lake, 1)
    assert _version(bronze) == version + 1
    slice_ = spark.read.format("delta").load(str(bronze)).where(F.col("_logical_date") == day)
    keys = [r[0] for r in slice_.select(cfg.tables[TABLE].primary_key[0]).collect()]
    assert len(keys) == len(set(keys)) == source_counts(source_dsn)[TABLE]
