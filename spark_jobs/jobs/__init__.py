"""Job registry: one module per job, each exposing ``main(argv) -> int``."""

from __future__ import annotations

import importlib

JOBS = (
    "validate", "extract", "validate_files", "extract_files", "extract_cdc", "write_bronze", "audit", "silver", "gold", "maintain",
    "report", "dr",
)  # fmt: skip


def dispatch(argv: list[str]) -> int:
    """Run the job named by ``argv[0]`` with the remaining arguments."""
    if not argv or argv[0] not in JOBS:
        raise SystemExit(f"usage: run.py {{{','.join(JOBS)}}} [args...]; got {argv[:1]}")
    module = importlib.import_module(f"spark_jobs.jobs.{argv[0]}")
    return int(module.main(argv[1:]))
