"""The benchmarks' own measures: the per-task phases read from a ``dags test`` log and the memory
of the project's processes (real processes, no services)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psutil

from benchmarks.memory import project_memory
from benchmarks.task_cost import task_phases

LOG = """\
2026-12-03T10:00:00.000000Z [info ] [DAG TEST] starting task_id=t.validate_connection map_index=-1
2026-12-03T10:00:00.300000Z [info ] [DAG TEST] end task task_id=t.validate_connection map_index=-1
2026-12-03T10:00:01.000000Z [info ] [DAG TEST] starting task_id=t.extract map_index=-1
2026-12-03T10:00:01.200000Z [info ] Spark-Submit cmd: spark-submit --master local[1] ... run.py extract
2026-12-03T10:00:02.400000Z [info ] {"ts": "x", "level": "INFO", "msg": "extract started", "job": "extract"}
2026-12-03T10:00:07.400000Z [info ] {"ts": "x", "level": "INFO", "msg": "extract succeeded", "seconds": 5.0}
2026-12-03T10:00:08.000000Z [info ] [DAG TEST] end task task_id=t.extract map_index=-1
2026-12-03T10:00:09.000000Z [info ] [DAG TEST] starting task_id=t.audit map_index=-1
2026-12-03T10:00:09.100000Z [info ] Spark-Submit cmd: spark-submit --master local[1] ... run.py audit
2026-12-03T10:00:12.100000Z [info ] {"ts": "x", "level": "INFO", "msg": "audit recorded SUCCESS", "job": "audit"}
2026-12-03T10:00:12.500000Z [info ] [DAG TEST] end task task_id=t.audit map_index=-1
"""


def test_task_phases_split_each_spark_task_at_its_command_start_and_end(tmp_path: Path) -> None:
    log = tmp_path / "run.log"
    log.write_text(LOG)
    phases = task_phases(log)
    assert phases["spark_tasks"] == 2 and phases["other_tasks"] == 1
    assert phases["other_tasks_s"] == 0.3
    assert phases["airflow_before_s"] == 0.3  # 0.2 (extract) + 0.1 (audit)
    assert phases["launch_s"] == 1.2 and phases["launch_per_task_s"] == 1.2  # the audit logs no start
    assert phases["job_s"] == 5.0
    assert phases["audit_launch_and_job_s"] == 3.0
    assert phases["exit_and_airflow_after_s"] == 1.0  # 0.6 + 0.4


def test_project_memory_counts_a_process_naming_the_project_and_its_children(tmp_path: Path) -> None:
    root = tmp_path / "project"
    child = "import time; b = bytearray(64 * 2**20); b[::4096] = b'x' * len(b[::4096]); time.sleep(30)"
    parent = f"import subprocess, sys, time; subprocess.Popen([sys.executable, '-c', {child!r}]); time.sleep(30)"
    proc = subprocess.Popen([sys.executable, "-c", parent, str(root)])  # only the parent names the root
    try:
        deadline, seen = time.monotonic() + 10, 0
        while time.monotonic() < deadline and seen < 64 * 2**20:
            time.sleep(0.2)
            seen = project_memory(root).get("jobs", 0)
        assert seen >= 64 * 2**20  # the child's touched 64 MiB, counted through its parent
        assert project_memory(tmp_path / "elsewhere") == {}
    finally:
        for p in psutil.Process(proc.pid).children(recursive=True):
            p.kill()
        proc.kill()
