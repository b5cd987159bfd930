"""Incremental loads, backfills and exactly-once reruns on real PostgreSQL, Spark and Delta.

The source schema ``it_inc`` is seeded exactly like ``it_src`` (same scale factor and seed), so a
copy of the shared full run's lakehouse is its initial full load. Days D1..D3 of source activity
(inserts, updates, deletes) are then loaded for orders and order_details -- the ``tables`` param
of the DAG -- with the in-process runner (tests/inprocess.py: same task specs and arguments as the
DAG, no process per task), in three orders, and compared with a full reload.
"""

from __future__ import annotations

import os
import shutil
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import pendulum
import psycopg
import pytest
from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse_airflow.build.intervals import source_window
from lakehouse_airflow.config import PipelineConfig, load_pipeline
from seed.activity import ActivityRequest, ActivitySummary, apply_activity
from seed.load import current_seed
from support.dagrun import LOAD_STAMPS, asset_events, dags_test, pipeline_dir, rows, state, ti_run_ids, ti_states
from support.env import IT_SCHEMA, IT_SF, sh
from support.inprocess import Run, run_pipeline, run_task, spark_specs

INC_SCHEMA = "it_inc"
DAYS = ("2026-11-21", "2026-11-22", "2026-11-23")
FOCUS = ("orders", "order_details")
KEPT_GOLD = ("daily_sales", "returns_by_reason", "supplier_performance", "customer_summary")


@dataclass
class Scenario:
    cfg: PipelineConfig
    base: Path  # initial full load, before any activity
    lakes: dict[str, Path]
    activity: dict[str, ActivitySummary]
    windows: dict[str, tuple]


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("_control"))
    return dst


def _run(cfg: PipelineConfig, lake: Path, day: str, prefix: str, **kw) -> Run:
    run = Run(day, f"{prefix}__{day}", kw.pop("tables", FOCUS), kw.pop("mode", "incremental"))
    run_pipeline(cfg, run, lake, kw.pop("layers", ("bronze", "silver")))
    return run


def _gold(cfg: PipelineConfig, lake: Path, prefix: str) -> None:
    """Gold as of D3: it is a full recompute from silver (and the run's date), so one pass at the
    end of a sequence is what the last run of that sequence leaves behind."""
    run_pipeline(cfg, Run(DAYS[-1], f"{prefix}__gold", FOCUS), lake, ("gold",))


def everything(spark, lake: Path) -> dict[str, list]:
    """Every table (bronze slices and tombstones, watermarks, silver, quarantine, DQ results, gold);
    only the wall clocks of a load are left out. The audit log is append-only by design."""
    return {
        f"{layer}.{path.name}": rows(spark, path, LOAD_STAMPS)
        for layer in ("inventory_bronze", "inventory_silver", "inventory_gold")
        for path in sorted((lake / layer).iterdir())
        if path.name != "bz_audit_log"
    }


@pytest.fixture(scope="module")
def scenario(first, stack, spark, tmp_path_factory) -> Scenario:
    sh(["python", "-m", "seed", "--schema", INC_SCHEMA, "--sf", str(IT_SF), "--force"], env=stack)
    with psycopg.connect(stack["AIRFLOW_CONN_INVENTORY_SOURCE"]) as conn:  # same rows as it_src: same SF and seed
        assert current_seed(conn, INC_SCHEMA) == current_seed(conn, IT_SCHEMA)
    tmp = tmp_path_factory.mktemp("incremental")
    cfg = load_pipeline(pipeline_dir(tmp, "inventory", lambda raw: raw["source"].update(schema=INC_SCHEMA))
                        / "inventory.yaml")  # fmt: skip
    base = _copy(first.lake, tmp / "base")
    lakes = {name: _copy(base, tmp / name) for name in ("daily", "backfill", "out_of_order", "full")}
    windows = {day: source_window(cfg, day) for day in DAYS}
    dsn = stack["AIRFLOW_CONN_INVENTORY_SOURCE"]
    activity = {}
    for day in DAYS:  # the daily schedule: a day of activity, then that day's run
        activity[day] = apply_activity(ActivityRequest(dsn, INC_SCHEMA, *windows[day]))
        _run(cfg, lakes["daily"], day, "scheduled")

    def sequence(name: str, days: tuple[str, ...], mode: str = "incremental") -> None:
        """One lake's runs, then its gold; in its own Spark Connect session (as each task has)."""
        SparkSession.builder.remote(os.environ["LAKEHOUSE_SPARK_REMOTE"]).create()  # this thread's session
        for day in days:
            _run(cfg, lakes[name], day, "manual" if mode == "full" else "backfill", mode=mode)
        _gold(cfg, lakes[name], name)

    with ThreadPoolExecutor(3) as pool:  # independent lakes, one Spark server: ~1.6x faster than in turn
        jobs = [
            pool.submit(sequence, "backfill", DAYS),
            pool.submit(sequence, "out_of_order", (DAYS[2], DAYS[0], DAYS[1])),
            pool.submit(sequence, "full", (DAYS[2],), "full"),
        ]
        _gold(cfg, lakes["daily"], "daily")
        for job in jobs:
            job.result()
    return Scenario(cfg, base, lakes, activity, windows)


def test_daily_backfill_and_out_of_order_end_equal_to_a_full_reload(scenario, spark) -> None:
    reference = state(spark, scenario.lakes["full"])
    assert reference["inventory_silver.orders"] and reference["inventory_gold.daily_sales"]
    for name in ("daily", "backfill", "out_of_order"):
        got = state(spark, scenario.lakes[name])
        assert got.keys() == reference.keys()
        diff = [t for t in reference if got[t] != reference[t]]
        assert not diff, f"{name} differs from the full reload in {diff}"
    # and the days really changed something: the initial load is not the final state
    assert state(spark, scenario.base)["inventory_silver.order_details"] != reference["inventory_silver.order_details"]


def test_source_deletes_leave_silver_and_bronze_keeps_tombstones(scenario, spark, source_dsn) -> None:
    lake = scenario.lakes["daily"]
    for table, key in (("orders", "order_id"), ("order_details", "order_detail_id")):
        gone = sorted({k for a in scenario.activity.values() for k in a.deleted.get(table, [])})
        assert gone, f"the activity deleted no {table}"
        silver = spark.read.format("delta").load(str(lake / "inventory_silver" / table))
        assert silver.where(F.col(key).isin(gone)).count() == 0
        bronze = spark.read.format("delta").load(str(lake / "inventory_bronze" / f"bz_{table}"))
        tomb = bronze.where(F.col("_record_status") == "DELETED")
        assert sorted(r[key] for r in tomb.select(key).collect()) == gone  # each delete recorded once
        # tombstones sit in the slice of the day the delete happened (daily order)
        for day, act in scenario.activity.items():
            in_slice = tomb.where(F.col("_logical_date") == day).select(key).collect()
            assert sorted(r[key] for r in in_slice) == sorted(act.deleted.get(table, []))
        with psycopg.connect(source_dsn) as conn:
            live = conn.execute(f"SELECT count(*) FROM {INC_SCHEMA}.{table} WHERE {key} = ANY(%s)", (gone,))
            assert live.fetchone()[0] == 0


def test_slices_hold_each_days_window_and_the_watermark_the_latest(scenario, spark, source_dsn) -> None:
    lake = scenario.lakes["daily"]
    bronze = spark.read.format("delta").load(str(lake / "inventory_bronze" / "bz_order_details"))
    with psycopg.connect(source_dsn) as conn:
        last_start, last_end = scenario.windows[DAYS[-1]]
        expected = conn.execute(
            f"SELECT order_detail_id FROM {INC_SCHEMA}.order_details WHERE updated_at >= %s AND updated_at < %s",
            (last_start, last_end),
        ).fetchall()
    got = bronze.where((F.col("_logical_date") == DAYS[-1]) & (F.col("_record_status") == "ACTIVE"))
    assert sorted(r[0] for r in got.select("order_detail_id").collect()) == sorted(r[0] for r in expected)
    marks = {
        r["table_name"]: r
        for r in spark.read.format("delta").load(str(lake / "inventory_bronze" / "bz_watermarks")).collect()
    }
    assert marks["order_details"]["high_water_mark"] == last_end
    assert marks["order_details"]["last_run_id"] == f"scheduled__{DAYS[-1]}"
    ooo = spark.read.format("delta").load(str(scenario.lakes["out_of_order"] / "inventory_bronze" / "bz_watermarks"))
    mark = ooo.where("table_name = 'orders'").first()
    assert mark["high_water_mark"] == last_end and mark["last_run_id"] == f"backfill__{DAYS[-1]}"  # never backwards


def test_rerunning_a_date_or_any_single_task_changes_nothing(scenario, spark) -> None:
    cfg, lake = scenario.cfg, scenario.lakes["daily"]
    before = everything(spark, lake)
    _run(cfg, lake, DAYS[-1], "scheduled")  # the same logical date (and run) again
    assert everything(spark, lake) == before
    run = Run(DAYS[-1], f"scheduled__{DAYS[-1]}", FOCUS)
    for spec in reversed(spark_specs(cfg, run, ("bronze", "silver"))):  # clear one task, re-run it
        run_task(cfg, spec, run, lake, try_number=2)
    gold = Run(DAYS[-1], "daily__gold", FOCUS)
    for spec in spark_specs(cfg, gold, ("gold",)):
        run_task(cfg, spec, gold, lake, try_number=2)
    assert everything(spark, lake) == before


def _version(spark, path: Path) -> int:
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()["version"]


def test_a_day_with_nothing_new_commits_only_the_watermark_and_dq_results(scenario, spark, tmp_path) -> None:
    """An empty window (no activity, no deletes: this runs before the test below changes the
    source) costs no bronze slice, quarantine or silver commit (an empty ``replaceWhere`` and a
    MERGE that matches nothing record no commit in Delta; silver does not even run them: its
    audit says ``empty``) and no commit of a gold model over silver alone; the watermark still
    moves to the window's end, the DQ results record the run, and every table holds what it held."""
    cfg, lake = scenario.cfg, _copy(scenario.lakes["daily"], tmp_path / "quiet")
    day = "2026-11-27"
    paths = [lake / "inventory_bronze" / f"bz_{t}" for t in FOCUS]
    paths += [lake / "inventory_silver" / t for t in FOCUS] + [
        lake / "inventory_silver" / f"{t}_quarantine" for t in FOCUS
    ]
    assert all(p.is_dir() for p in paths), paths
    # gold models over silver alone keep their tables too; those reading the run are recomputed
    paths += [lake / "inventory_gold" / m for m in KEPT_GOLD]
    per_run = {f"inventory_gold.{m}" for m in ("inventory_health", "executive_summary")}
    versions = {p.name: _version(spark, p) for p in paths}
    before = everything(spark, lake)
    run = _run(cfg, lake, day, "scheduled", layers=("bronze", "silver", "gold"))
    assert {p.name: _version(spark, p) for p in paths} == versions
    after = everything(spark, lake)
    moved = {"inventory_bronze.bz_watermarks", "inventory_silver.dq_results", *per_run}
    audit = spark.read.format("delta").load(str(lake / "inventory_bronze" / "bz_audit_log"))
    gold = {r["target_table"]: r["load_mode"] for r in audit.where(f"job_run_id = '{run.run_id}' AND layer = 'gold'")
            .collect()}  # fmt: skip
    assert gold == {**{f"inventory_gold.{m}": "unchanged" for m in KEPT_GOLD}, **dict.fromkeys(per_run)}
    silver = {r["target_table"]: (r["load_mode"], r["rows_read"])
              for r in audit.where(f"job_run_id = '{run.run_id}' AND layer = 'silver'").collect()}  # fmt: skip
    assert silver == {f"inventory_silver.{t}": ("empty", 0) for t in FOCUS}  # no pipeline over bronze ran
    assert {t: v for t, v in after.items() if t not in moved} == {t: v for t, v in before.items() if t not in moved}
    marks = spark.read.format("delta").load(str(lake / "inventory_bronze" / "bz_watermarks"))
    _, end = source_window(cfg, day)
    for table in FOCUS:
        mark = marks.where(F.col("table_name") == table).first()
        assert mark["high_water_mark"] == end and mark["last_run_id"] == run.run_id
    dq = spark.read.format("delta").load(str(lake / "inventory_silver" / "dq_results"))
    summary = dq.where((F.col("run_id") == run.run_id) & (F.col("rule") == "_table")).collect()
    assert sorted(r["table_name"] for r in summary) == sorted(FOCUS) and {r["total_rows"] for r in summary} == {0}


def test_failed_write_keeps_table_and_watermark_then_retry_loads_once(scenario, spark, stack, monkeypatch) -> None:
    cfg, lake = scenario.cfg, scenario.lakes["backfill"]
    day = "2026-11-24"
    start, end = source_window(cfg, day)
    apply_activity(ActivityRequest(stack["AIRFLOW_CONN_INVENTORY_SOURCE"], INC_SCHEMA, start, end))
    bronze_path = lake / "inventory_bronze" / "bz_orders"
    marks_path = lake / "inventory_bronze" / "bz_watermarks"
    version = spark.sql(f"DESCRIBE HISTORY delta.`{bronze_path}` LIMIT 1").first()["version"]
    rows_before, marks_before = rows(spark, bronze_path, set()), rows(spark, marks_path, set())
    run = Run(day, f"scheduled__{day}", ("orders",))
    extract, write = spark_specs(cfg, run, ("bronze",))[:2]
    run_task(cfg, extract, run, lake)
    monkeypatch.setenv("LAKEHOUSE_INJECT_FAULT", "write_bronze:orders")
    with pytest.raises(Exception, match="injected failure in write_bronze:orders"):
        run_task(cfg, write, run, lake)
    assert spark.sql(f"DESCRIBE HISTORY delta.`{bronze_path}` LIMIT 1").first()["version"] == version
    assert rows(spark, bronze_path, set()) == rows_before
    assert rows(spark, marks_path, set()) == marks_before
    monkeypatch.delenv("LAKEHOUSE_INJECT_FAULT")
    run_task(cfg, write, run, lake, try_number=2)
    bronze = spark.read.format("delta").load(str(bronze_path)).where(F.col("_logical_date") == day).collect()
    assert len(bronze) == len({r["order_id"] for r in bronze}) > 0
    mark = spark.read.format("delta").load(str(marks_path)).where("table_name = 'orders'").first()
    assert mark["high_water_mark"] == end and mark["last_run_id"] == run.run_id
    loaded = rows(spark, bronze_path, LOAD_STAMPS)  # collected before the retry
    run_task(cfg, write, run, lake, try_number=3)  # a further retry: same slice, mark not moved again
    assert rows(spark, bronze_path, LOAD_STAMPS) == loaded
    assert spark.read.format("delta").load(str(marks_path)).where("table_name = 'orders'").first() == mark


def test_audit_reports_mode_and_deletes(scenario, spark) -> None:
    audit = spark.read.format("delta").load(str(scenario.lakes["daily"] / "inventory_bronze" / "bz_audit_log"))
    rows = audit.where((F.col("job_run_id") == f"scheduled__{DAYS[0]}") & (F.col("layer") == "bronze")).collect()
    by_table = {r["source_table"].split(".")[1]: r for r in rows}
    assert set(by_table) == set(FOCUS)
    for table in FOCUS:
        row = by_table[table]
        assert row["status"] == "SUCCESS" and row["load_mode"] == "incremental"
        assert row["rows_deleted"] == len(scenario.activity[DAYS[0]].deleted[table])
        changed = scenario.activity[DAYS[0]].inserted.get(table, 0) + scenario.activity[DAYS[0]].updated[table]
        assert 0 < row["row_count"] <= changed
    reload = spark.read.format("delta").load(str(scenario.lakes["full"] / "inventory_bronze" / "bz_audit_log"))
    full = reload.where((F.col("job_run_id") == f"manual__{DAYS[2]}") & (F.col("layer") == "bronze")).collect()
    assert len(full) == 2 and {r["load_mode"] for r in full} == {"full"}


def test_airflow_params_select_tables_and_a_failed_write_retries_cleanly(scenario, stack, spark, tmp_path) -> None:
    """Through real `airflow dags test`: params.tables runs one table (the rest skip, not fail);
    an injected write failure fails only that table's chain, leaves bronze and the watermark as
    they were; the repeated run loads the day's slice exactly once and advances the watermark."""
    lake = _copy(scenario.base, tmp_path / "lake")
    pipelines = scenario.cfg.base_dir
    day = DAYS[-1]
    conf = ["--conf", '{"tables": ["shipments"]}']
    bronze_path, marks_path = lake / "inventory_bronze" / "bz_shipments", lake / "inventory_bronze" / "bz_watermarks"
    rows_before, marks_before = rows(spark, bronze_path, set()), rows(spark, marks_path, set())
    failed = dags_test(stack, pipelines, lake, "inventory_lakehouse", args=conf, date=day,
                       extra_env={"LAKEHOUSE_INJECT_FAULT": "write_bronze:shipments"})  # fmt: skip
    assert failed.returncode != 0
    run1 = ti_run_ids(stack, day)[-1]
    states = ti_states(stack, run1)
    assert states["shipments.write_bronze"] == "failed" and states["shipments.audit"] == "failed"
    assert states["inventory_silver.shipments"] == "upstream_failed"
    assert states["inventory_gold.supplier_performance"] == "upstream_failed"
    assert states["summary"] == "failed"  # the run's summary fails the run: alerts fire
    assert (
        states["orders.extract"]
        == states["inventory_silver.orders"]
        == states["inventory_gold.daily_sales"]
        == "skipped"
    )
    assert rows(spark, bronze_path, set()) == rows_before and rows(spark, marks_path, set()) == marks_before
    assert asset_events(stack, run1) == {}  # the failed write committed nothing: no asset event

    again = dags_test(stack, pipelines, lake, "inventory_lakehouse", args=conf, date=day)
    assert again.returncode == 0, again.stdout[-3000:]
    run2 = ti_run_ids(stack, day)[-1]
    states = ti_states(stack, run2)
    ran = {t for t, s in states.items() if s == "success"}
    assert ran == {
        "shipments.validate_connection",
        "shipments.extract",
        "shipments.write_bronze",
        "shipments.audit",
        "inventory_silver.shipments",
        "inventory_gold.inventory_health",
        "inventory_gold.supplier_performance",
        "inventory_gold.executive_summary",
        "summary",
    }  # fmt: skip  (executive_summary reads dq_results: every table)
    assert {s for t, s in states.items() if t not in ran} == {"skipped"}
    # one asset event per committed table, from the task that committed it, naming the run's slice;
    # none for the skipped tables
    events = asset_events(stack, run2)
    assert {name: [task for task, _ in e] for name, e in events.items()} == {
        "inventory_bronze.bz_shipments": ["shipments.write_bronze"],
        "inventory_silver.shipments": ["inventory_silver.shipments"],
        "inventory_gold.inventory_health": ["inventory_gold.inventory_health"],
        "inventory_gold.supplier_performance": ["inventory_gold.supplier_performance"],
        "inventory_gold.executive_summary": ["inventory_gold.executive_summary"],
    }
    (_, extra), *_ = events["inventory_bronze.bz_shipments"]
    assert extra["run_id"] == run2 and extra["logical_date"] == day and extra["mode"] == "incremental"
    # this lake's last load ended where DAYS[0] begins and DAYS[0..1] never ran here: the run reads
    # from that committed mark to the end of its own interval (no hole)
    start, end = scenario.windows[DAYS[0]][0], scenario.windows[day][1]
    with psycopg.connect(stack["AIRFLOW_CONN_INVENTORY_SOURCE"]) as conn:
        expected = conn.execute(
            f"SELECT count(*) FROM {INC_SCHEMA}.shipments WHERE updated_at >= %s AND updated_at < %s", (start, end)
        ).fetchone()[0]
    sliced = (
        spark.read.format("delta")
        .load(str(bronze_path))
        .where((F.col("_logical_date") == day) & (F.col("_record_status") == "ACTIVE"))
    )
    assert expected > 0 and sliced.count() == sliced.select("shipment_id").distinct().count() == expected
    mark = spark.read.format("delta").load(str(marks_path)).where("table_name = 'shipments'").first()
    assert mark["high_water_mark"] == end and mark["load_mode"] == "incremental"
    # the slice's interval (the window is naive time of the source's zone; the event's extra is UTC)
    zone = scenario.cfg.source_timezone()
    assert pendulum.parse(extra["data_interval_end"]) == pendulum.parse(end.isoformat(), tz=zone)
