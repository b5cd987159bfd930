"""The shipped inventory pipeline file as a dict (SQL paths made absolute), variants of it with
tables moved to another cadence, and the DAGs a variant builds (no service needed)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from lakehouse_airflow.config.pipeline import with_absolute_sql_paths

SHIPPED = Path(__file__).resolve().parents[2] / "include" / "pipelines" / "inventory.yaml"


def shipped_raw() -> dict[str, Any]:
    return with_absolute_sql_paths(yaml.safe_load(SHIPPED.read_text()), SHIPPED)


def with_cadence(raw: dict[str, Any], cadence: str, tables: Iterable[str]) -> dict[str, Any]:
    """``raw`` with ``tables`` at ``cadence`` (changed in place, returned)."""
    for name in tables:
        raw["tables"][name]["cadence"] = cadence
    return raw


def build_variant(tmp_path: Path, raw: dict[str, Any]) -> dict[str, Any]:
    """Every DAG the pipeline file ``raw`` builds (written to ``tmp_path``), by DAG id."""
    from lakehouse_airflow.build.dag import build_all

    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    return build_all(str(tmp_path))
