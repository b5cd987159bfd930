"""Where benchmark figures go: ``bench-results/<name>.json`` and a readable listing on stdout."""

from __future__ import annotations

import json
import os
import platform
import sys

from lakehouse_airflow.paths import PROJECT_ROOT


def environment() -> dict[str, str]:
    """Machine notes recorded with every result."""
    return {
        "spark_mode": "connect" if os.environ.get("LAKEHOUSE_SPARK_REMOTE") else "classic",
        "machine": f"{os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}",
    }


def save(name: str, report: dict[str, object]) -> None:
    out = PROJECT_ROOT / "bench-results"
    out.mkdir(exist_ok=True)
    full = {**report, **environment()}
    (out / f"{name}.json").write_text(json.dumps(full, indent=2))
    width = max(len(k) for k in full)
    for k, v in full.items():
        sys.stdout.write(f"{k:>{width}}: {v}\n")
