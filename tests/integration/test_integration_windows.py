"""Incremental windows that lose nothing: a row committed after its window was read (look-back),
and an interval that never ran (the next run reads from the last committed mark)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import psycopg
import pytest

from lakehouse_airflow.build.intervals import source_window
from lakehouse_airflow.config import PipelineConfig, load_pipeline
from lakehouse_contract import layout
from support.dagrun import lake_copy, pipeline_dir
from support.env import IT_SF, sh
from support.inprocess import Run, run_pipeline

SCHEMA = "it_win"
D1, D2, D3, D4 = "2026-11-21", "2026-11-22", "2026-11-23", "2026-11-24"
TABLES = ("orders",)


def _config(tmp: Path, lookback: int) -> PipelineConfig:
    def mutate(raw: dict) -> None:
        raw["source"]["schema"] = SCHEMA
        raw["tables"]["orders"]["lookback_minutes"] = lookback

    return load_pipeline(pipeline_dir(tmp / f"lookback{lookback}", "inventory", mutate) / "inventory.yaml")


def _insert(dsn: str, order_id: int, updated_at: dt.datetime, customer_id: int) -> None:
    """A clean order (a customer silver holds, so it passes every rule) last updated at ``updated_at``."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(
            f"INSERT INTO {SCHEMA}.orders (order_id, customer_id, order_date, status, total_amount, updated_at) "
            "VALUES (%s, %s, %s, 'PENDING', 12.34, %s)",
            (order_id, customer_id, updated_at.date(), updated_at),
        )


def _customer(spark, lake: Path) -> int:
    return spark.read.format("delta").load(str(lake / "inventory_silver" / "customers")).first()["customer_id"]


def _silver_ids(spark, lake: Path) -> set[int]:
    return {
        r[0]
        for r in spark.read.format("delta").load(str(lake / "inventory_silver" / "orders")).select("order_id").collect()
    }


def _run(cfg: PipelineConfig, lake: Path, day: str) -> None:
    run_pipeline(cfg, Run(day, f"scheduled__{day}", TABLES), lake, ("bronze", "silver"))


@pytest.fixture(scope="module")
def source(stack: dict[str, str]) -> str:
    sh(["python", "-m", "seed", "--schema", SCHEMA, "--sf", str(IT_SF), "--force"], env=stack)
    return stack["AIRFLOW_CONN_INVENTORY_SOURCE"]


def test_late_committed_rows_are_caught_by_the_look_back_and_lost_without_it(first, spark, source, tmp_path) -> None:
    with_lookback, without = _config(tmp_path, 60), _config(tmp_path, 0)
    lakes = {60: lake_copy(first.lake, tmp_path / "lake60"), 0: lake_copy(first.lake, tmp_path / "lake0")}
    for lookback, cfg in ((60, with_lookback), (0, without)):
        _run(cfg, lakes[lookback], D1)
    # a transaction that began before D1's run read its window commits afterwards
    d2_start, _ = source_window(with_lookback, D2)
    with psycopg.connect(source) as conn:
        late_id = conn.execute(f"SELECT max(order_id) + 1000 FROM {SCHEMA}.orders").fetchone()[0]
    _insert(source, late_id, d2_start - dt.timedelta(minutes=10), _customer(spark, lakes[60]))  # in D1's window
    for lookback, cfg in ((60, with_lookback), (0, without)):
        _run(cfg, lakes[lookback], D2)
    assert late_id in _silver_ids(spark, lakes[60])
    assert late_id not in _silver_ids(spark, lakes[0])  # the hole the look-back closes


def test_an_interval_that_never_ran_is_read_by_the_next_run(first, spark, source, tmp_path) -> None:
    cfg = _config(tmp_path, 0)
    lake = lake_copy(first.lake, tmp_path / "lake")
    _run(cfg, lake, D1)
    d3_start, d3_end = source_window(cfg, D3)
    with psycopg.connect(source) as conn:
        base = conn.execute(f"SELECT max(order_id) + 2000 FROM {SCHEMA}.orders").fetchone()[0]
    customer = _customer(spark, lake)
    _insert(source, base, source_window(cfg, D2)[0] + dt.timedelta(hours=1), customer)  # D2 never runs
    _insert(source, base + 1, d3_start + dt.timedelta(hours=1), customer)  # nor does D3
    _insert(source, base + 2, d3_end + dt.timedelta(hours=1), customer)  # D4's own window
    _run(cfg, lake, D4)
    assert {base, base + 1, base + 2} <= _silver_ids(spark, lake)
    result = Path(layout.step_result_path(str(lake), cfg.dag_id, f"scheduled__{D4}", "orders", "extract"))
    metrics = json.loads(result.read_text())["metrics"]
    d2_start = source_window(cfg, D2)[0]
    assert metrics["resumed_from"] == d2_start.isoformat()  # D1's end: the last committed mark
    assert metrics["window_start"] == d2_start.isoformat()
