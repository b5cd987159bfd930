"""File-source pipelines in the integration tests: a shipped pipeline pointed at a drops folder,
and the returns scenario's view of its lakehouse (runs, step results, tables, manifest, files)."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse_airflow.config import PipelineConfig, load_pipeline
from lakehouse_airflow.config.pipeline import with_absolute_sql_paths
from lakehouse_airflow.paths import PROJECT_ROOT
from lakehouse_contract import layout
from support.inprocess import JobFailed, Run, run_pipeline
from support.returns_oracle import BUSINESS, CHANNEL

BOTH = ("returns_web", "returns_store")


def shipped_file_pipeline(
    name: str, tmp: Path, drops: Path, mutate: Callable[[dict[str, Any]], None] | None = None
) -> PipelineConfig:
    """``include/pipelines/<name>.yaml`` reading ``drops``, retries off, changed by ``mutate``."""
    shipped = PROJECT_ROOT / "include" / "pipelines" / f"{name}.yaml"
    raw = with_absolute_sql_paths(yaml.safe_load(shipped.read_text()), shipped)
    raw["source"]["root"] = str(drops)
    raw["retries"] = 0
    if mutate:
        mutate(raw)
    folder = tmp / "pipelines"
    folder.mkdir(parents=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return load_pipeline(folder / f"{name}.yaml")


@dataclass
class ReturnsLake:
    spark: Any
    cfg: PipelineConfig
    root: Path
    drops: Path
    runs: int = 0
    seen: dict[str, Any] = field(default_factory=dict)

    def run(self, date: str, tables: tuple[str, ...] = BOTH, layers=("bronze", "silver", "gold")) -> str:
        self.runs += 1
        run_id = f"manual__{date}T04:00:00+00:00_{self.runs}"
        run_pipeline(self.cfg, Run(date, run_id, tables), self.root, layers)
        return run_id

    def failing(self, date: str, tables: tuple[str, ...], layers=("bronze",)) -> tuple[str, str]:
        """A run expected to fail: (run id, the error its failed step recorded)."""
        self.runs += 1
        run_id = f"manual__{date}T04:00:00+00:00_{self.runs}"
        with pytest.raises(JobFailed):
            run_pipeline(self.cfg, Run(date, run_id, tables), self.root, layers)
        for step in ("validate_connection", "extract"):
            doc = self.result(run_id, tables[0], step)
            if doc and doc["status"] == "FAILED":
                return run_id, doc["error"]
        raise AssertionError(f"no failed step recorded for {run_id}")

    def result(self, run_id: str, table: str, step: str) -> dict | None:
        path = Path(layout.step_result_path(str(self.root), self.cfg.dag_id, run_id, table, step))
        return json.loads(path.read_text()) if path.exists() else None

    def table(self, schema: str, name: str):
        return self.spark.read.format("delta").load(str(self.root / schema / name))

    def bronze(self, table: str) -> list[dict]:
        return [r.asDict() for r in self.table("returns_bronze", f"bz_{table}").collect()]

    def bronze_version(self, table: str) -> int:
        log = self.root / "returns_bronze" / f"bz_{table}" / "_delta_log"
        return max(int(p.stem) for p in log.glob("*.json"))

    def silver(self, table: str) -> dict[str, tuple]:
        cols = ("return_id", "order_id", "sku", "return_date", "return_reason", "units", "amount_filled")
        return {r[0]: tuple(r[1:]) for r in self.table("returns_silver", table).select(*cols).collect()}

    def quarantine_count(self, table: str) -> int:
        return self.table("returns_silver", f"{table}_quarantine").count()

    def gold(self) -> list[tuple]:
        return sorted(tuple(r) for r in self.table("returns_gold", "returns_by_sku_reason").collect())

    def manifest(self) -> dict[tuple[str, str], dict]:
        rows = self.table("returns_bronze", "bz_file_manifest").collect()
        return {(r["table_name"], r["path"]): r.asDict() for r in rows}

    def files(self, table: str, *days: str) -> list[Path]:
        folder = self.drops / "returns_raw" / CHANNEL[table]
        return sorted(f for d in days for f in (folder / d).glob("*") if f.is_file())

    def loaded_files(self, table: str) -> list[Path]:
        return sorted(Path(p) for (t, p), e in self.manifest().items() if t == table and e["status"] == "loaded")


def lines(path: Path) -> int:
    text = [line for line in path.read_text().splitlines() if line.strip()]
    return len(text) - (1 if path.suffix == ".csv" else 0)


def by_file(rows: list[dict]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for r in rows:
        counts[r["_source_file"]] = counts.get(r["_source_file"], 0) + 1
    return counts


def content(rows: list[dict]) -> list[tuple]:
    return sorted((r["_source_file"], r["_logical_date"], *(str(r[c]) for c in BUSINESS)) for r in rows)
