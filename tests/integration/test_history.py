"""``silver.history: scd2`` through the pipeline's own jobs (in process): orders updated twice and
one deleted in the source over three daily runs; the history equals the versions the test wrote
into PostgreSQL, a second Delta reader sees the same table, and replaying the three silver runs in
another order rebuilds the same history."""

from __future__ import annotations

import datetime as dt
import shutil
from pathlib import Path

import psycopg
import pytest

from lakehouse_airflow.build.intervals import source_window
from lakehouse_airflow.config import PipelineConfig, load_pipeline
from lakehouse_contract.naming import IS_CURRENT, VALID_FROM, VALID_TO
from support.dagrun import lake_copy, pipeline_dir
from support.env import IT_SF, sh
from support.inprocess import Run, run_pipeline
from support.kernel import connect

SCHEMA = "it_hist"
D1, D2, D3 = "2026-11-21", "2026-11-22", "2026-11-23"
TABLES = ("orders",)
HISTORY = ("inventory_silver", "orders_history")


def _config(tmp: Path) -> PipelineConfig:
    def mutate(raw: dict) -> None:
        raw["source"]["schema"] = SCHEMA
        raw["tables"]["orders"]["silver"]["history"] = "scd2"

    return load_pipeline(pipeline_dir(tmp / "hist", "inventory", mutate) / "inventory.yaml")


def _run(cfg: PipelineConfig, lake: Path, day: str, layers: tuple[str, ...] = ("bronze", "silver")) -> None:
    run_pipeline(cfg, Run(day, f"scheduled__{day}", TABLES), lake, layers)


def _history(spark, lake: Path) -> list[tuple]:
    df = spark.read.format("delta").load(str(lake.joinpath(*HISTORY)))
    return sorted(tuple(r) for r in df.collect())


@pytest.fixture(scope="module")
def source(stack: dict[str, str]) -> str:
    sh(["python", "-m", "seed", "--schema", SCHEMA, "--sf", str(IT_SF), "--force"], env=stack)
    return stack["AIRFLOW_CONN_INVENTORY_SOURCE"]


def test_history_holds_every_version_and_replays_in_any_order(first, spark, source, tmp_path) -> None:
    cfg = _config(tmp_path)
    lake = lake_copy(first.lake, tmp_path / "lake")
    with psycopg.connect(source, autocommit=True) as conn:
        (a, a_since, a_status), (b, b_since, b_status) = conn.execute(
            f"SELECT order_id, updated_at, status FROM {SCHEMA}.orders ORDER BY order_id LIMIT 2"
        ).fetchall()
    _run(cfg, lake, D1)
    t2 = source_window(cfg, D2)[0] + dt.timedelta(hours=2)
    t3 = source_window(cfg, D3)[0] + dt.timedelta(hours=3)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(f"UPDATE {SCHEMA}.orders SET status = 'SHIPPED', updated_at = %s WHERE order_id = %s", (t2, a))
    _run(cfg, lake, D2)
    with psycopg.connect(source, autocommit=True) as conn:
        conn.execute(f"UPDATE {SCHEMA}.orders SET status = 'DELIVERED', updated_at = %s WHERE order_id = %s", (t3, a))
        for child in ("order_details", "shipments", "returns"):  # the source's foreign keys
            conn.execute(f"DELETE FROM {SCHEMA}.{child} WHERE order_id = %s", (b,))
        conn.execute(f"DELETE FROM {SCHEMA}.orders WHERE order_id = %s", (b,))
    _run(cfg, lake, D3)

    history = spark.read.format("delta").load(str(lake.joinpath(*HISTORY)))
    got = {
        k: sorted((r["status"], r[VALID_FROM], r[VALID_TO], r[IS_CURRENT]) for r in history.where(f"order_id = {k}").collect())
        for k in (a, b)
    }  # fmt: skip
    deleted_by = dt.datetime.fromisoformat(D3) + dt.timedelta(days=1)  # the end of the slice that found it gone
    assert got[a] == sorted([(a_status, a_since, t2, False), ("SHIPPED", t2, t3, False), ("DELIVERED", t3, None, True)])
    assert got[b] == [(b_status, b_since, deleted_by, False)]
    # one current version per key that silver holds, none for a deleted key
    silver = {
        r["order_id"] for r in spark.read.format("delta").load(str(lake / "inventory_silver" / "orders")).collect()
    }
    current = {r["order_id"] for r in history.where(IS_CURRENT).collect()}
    assert current <= silver and b not in current and a in current
    assert history.groupBy("order_id", VALID_FROM).count().where("count > 1").count() == 0

    # a second Delta reader (delta-kernel-rs through DuckDB) reads the same table
    kernel = set(connect().execute(
        f"SELECT order_id, epoch_us({VALID_FROM}), {IS_CURRENT} FROM delta_scan('{lake.joinpath(*HISTORY)}')"
    ).fetchall())  # fmt: skip
    spark_view = history.selectExpr("order_id", f"unix_micros({VALID_FROM})", IS_CURRENT).collect()
    assert kernel == {tuple(r) for r in spark_view} and len(kernel) == history.count()

    # the same slices replayed through silver in another order: the same history
    built = _history(spark, lake)
    replay = lake_copy(lake, tmp_path / "replay")
    shutil.rmtree(replay.joinpath(*HISTORY))
    for day in (D3, D1, D2):
        _run(cfg, replay, day, ("silver",))
    assert _history(spark, replay) == built
    # and a rerun changes nothing
    _run(cfg, replay, D2, ("silver",))
    assert _history(spark, replay) == built
