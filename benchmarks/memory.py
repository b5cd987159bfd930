"""Peak memory of the project's processes together, sampled while a benchmark step runs.

A process belongs to the project when its command line, or an ancestor's, names the project
directory: the embedded PostgreSQL (its postmaster runs with ``-D <project>/.local/pg/data``, the
backends are its children), the Spark Connect server, ``airflow dags test`` and every
job process under it (with a classic ``spark-submit``'s JVMs), and the benchmark itself. Each
process counts with its proportional set size (PSS: shared pages split between the processes that
map them), so PostgreSQL's shared buffers are not counted once per backend.
"""

from __future__ import annotations

import threading
from pathlib import Path
from types import TracebackType

import psutil


def _kind(cmdline: str) -> str:
    if cmdline.startswith("postgres") or "/postgresql/" in cmdline:
        return "postgres"
    if "SparkConnectServer" in cmdline or "lakehouse-connect" in cmdline:
        return "spark_server"
    if "airflow" in cmdline and "spark_jobs" not in cmdline and "SparkSubmit" not in cmdline:
        return "airflow"
    return "jobs"


def project_memory(root: Path) -> dict[str, int]:
    """Bytes (PSS) per kind of project process right now."""
    procs: dict[int, tuple[int, str]] = {}
    for p in psutil.process_iter(["pid", "ppid", "cmdline"]):
        procs[p.info["pid"]] = (p.info["ppid"] or 0, " ".join(p.info["cmdline"] or []))
    mine: dict[int, str] = {}
    for pid, (_, cmd) in procs.items():
        seen, cur = set(), pid
        while cur and cur not in seen:  # the process or an ancestor names the project
            seen.add(cur)
            ppid, ccmd = procs.get(cur, (0, ""))
            if str(root) in ccmd:
                mine[pid] = _kind(cmd)
                break
            cur = ppid
    out: dict[str, int] = {}
    for pid, kind in mine.items():
        try:
            pss = psutil.Process(pid).memory_full_info().pss
        except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
            continue
        out[kind] = out.get(kind, 0) + pss
    return out


class PeakMemory:
    """``with PeakMemory(root) as m: ...`` then ``m.peak_bytes`` and ``m.at_peak`` (bytes per kind)."""

    def __init__(self, root: Path, every_s: float = 1.0) -> None:
        self.root, self.every_s = root, every_s
        self.peak_bytes = 0
        self.at_peak: dict[str, int] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, name="peak-memory", daemon=True)

    def _sample(self) -> None:
        while True:
            now = project_memory(self.root)
            total = sum(now.values())
            if total > self.peak_bytes:
                self.peak_bytes, self.at_peak = total, now
            if self._stop.wait(self.every_s):
                return

    def __enter__(self) -> PeakMemory:
        self._thread.start()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()

    def report(self) -> dict[str, object]:
        gb = 1024**3
        return {"peak_gb": round(self.peak_bytes / gb, 2),
                "at_peak_gb": {k: round(v / gb, 2) for k, v in sorted(self.at_peak.items())}}  # fmt: skip
