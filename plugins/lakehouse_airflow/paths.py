"""Project-relative locations resolved once (no I/O beyond reading environment variables)."""

from __future__ import annotations

import os
from pathlib import Path

from lakehouse_contract.storage import is_object_store

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PIPELINES_DIR = Path(os.environ.get("LAKEHOUSE_PIPELINES_DIR", PROJECT_ROOT / "include" / "pipelines"))
SPARK_ENTRYPOINT = PROJECT_ROOT / "spark_jobs" / "run.py"


def lakehouse_root(configured: str | None) -> str:
    """Configured root (relative paths are under the project), else $LAKEHOUSE_ROOT, else
    .local/lakehouse. An object-store URI (``s3a://bucket/prefix``) is kept as it is."""
    value = configured or os.environ.get("LAKEHOUSE_ROOT") or str(PROJECT_ROOT / ".local" / "lakehouse")
    if is_object_store(value):
        return value.rstrip("/")
    path = Path(value)
    return str(path if path.is_absolute() else PROJECT_ROOT / path)


def files_root(configured: str | None, system: str) -> str:
    """Where a file source's drops land: configured (relative paths are under the project), else
    $LAKEHOUSE_FILES_ROOT/<system>, else .local/files/<system>. Object-store URIs are kept."""
    base = os.environ.get("LAKEHOUSE_FILES_ROOT")
    value = configured or (f"{base.rstrip('/')}/{system}" if base else str(PROJECT_ROOT / ".local" / "files" / system))
    if is_object_store(value):
        return value.rstrip("/")
    path = Path(value)
    return str(path if path.is_absolute() else PROJECT_ROOT / path)
