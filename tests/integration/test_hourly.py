"""``cadence: hourly`` under Airflow (`airflow dags test`, real PostgreSQL, Spark, Delta): the
``<dag_id>_hourly`` DAG loads one hourly slice of bronze per run; the main DAG's silver and gold
wait until the hours of their day have landed.

One scenario, in order: two hourly runs (the first loads the table, the second one hour's
changes); the daily run fails after `hourly.wait_minutes` naming the hour it waits for, reading
nothing; the last hour lands (inserts, updates, deletes); a rerun of an hour replaces exactly its
slice; the daily run then passes: silver equals the source by key and content, gold equals SQL
over the source at the interval's end, and each commit emitted one asset event.
"""

from __future__ import annotations

import datetime as dt
import textwrap
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from lakehouse_contract.naming import SLICE_START
from support.dagrun import airflow_db, dags_test

SCHEMA = "hourly_it"
DAG = "hourly_it_lakehouse"
PIPELINE = f"""
dag_id: {DAG}
owner: data-platform
schedule: "0 0 * * *"
timezone: UTC
start_date: 2026-01-01
retries: 0
source: {{conn_id: inventory_source, database: DE, schema: {SCHEMA}, system: hourly_it}}
lakehouse: {{bronze_schema: hourly_bronze, silver_schema: hourly_silver, gold_schema: hourly_gold}}
monitor: {{project_code: HRL, process_load: hourly_it}}
hourly: {{wait_minutes: 1}}
defaults: {{cadence: hourly, load_mode: incremental, watermark_column: updated_at}}
tables:
  readings:
    priority: 1
    primary_key: [reading_id]
    silver: {{required: [sensor]}}
    columns: {{reading_id: bigint, sensor: string, value: "decimal(10,2)", updated_at: timestamp}}
gold:
  models:
    per_sensor: {{sql_file: per_sensor.sql, inputs: [readings]}}
"""
GOLD_SQL = "SELECT sensor, count(*) AS readings, sum(value) AS total FROM readings GROUP BY sensor"
DDL = f"""
DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.readings (reading_id bigint PRIMARY KEY, sensor text, value numeric(10,2),
                                updated_at timestamp);
INSERT INTO {SCHEMA}.readings
  SELECT g, 'sensor-' || (g % 4), (g * 1.5)::numeric(10,2), TIMESTAMP '2026-11-28 10:00' + g * INTERVAL '1 minute'
  FROM generate_series(1, 60) g;
"""
DAY = "2026-11-29"  # the daily run: interval 2026-11-28 00:00 .. 2026-11-29 00:00 (UTC)


def _sql(dsn: str, *statements: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


def _hour(stack, folder: Path, lake: Path, ends: str):
    """The hourly DAG's run of the hour that ends at ``ends`` (a manual run's interval ends at its date)."""
    result = dags_test(stack, folder, lake, f"{DAG}_hourly", date=f"{ends}+00:00")
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]


def _asset_events(stack) -> dict[str, list[str]]:
    """Asset name -> the data interval ends of its events, oldest first."""
    with airflow_db(stack) as conn:
        rows = conn.execute(
            "SELECT a.name, e.extra::json->>'data_interval_end' FROM asset_event e JOIN asset a ON a.id = e.asset_id "
            "WHERE a.name LIKE 'hourly\\_%%' ORDER BY e.id"
        ).fetchall()
    out: dict[str, list[str]] = {}
    for name, end in rows:
        out.setdefault(name, []).append(end)
    return out


@pytest.fixture(scope="module")
def scenario(stack, tmp_path_factory):
    dsn = stack["AIRFLOW_CONN_INVENTORY_SOURCE"]
    _sql(dsn, DDL)
    with airflow_db(stack) as conn:  # an earlier session's events would satisfy the wait
        conn.execute("DELETE FROM asset_event WHERE asset_id IN (SELECT id FROM asset WHERE name LIKE 'hourly\\_%%')")
    folder = tmp_path_factory.mktemp("hourly")
    (folder / "hourly.yaml").write_text(textwrap.dedent(PIPELINE))
    (folder / "per_sensor.sql").write_text(GOLD_SQL)
    return dsn, folder, folder / "lake"


def test_hourly_slices_then_the_daily_silver_and_gold_of_their_day(scenario, stack, spark) -> None:
    dsn, folder, lake = scenario
    _hour(stack, folder, lake, "2026-11-28T22:00:00")  # 21:00-22:00, the table's first load: all of it
    _sql(dsn, f"INSERT INTO {SCHEMA}.readings SELECT g, 'sensor-' || (g % 4), g, TIMESTAMP '2026-11-28 22:30' "
              "FROM generate_series(61, 70) g",
         f"UPDATE {SCHEMA}.readings SET value = value + 1, updated_at = TIMESTAMP '2026-11-28 22:40' "
         "WHERE reading_id <= 5")  # fmt: skip
    _hour(stack, folder, lake, "2026-11-28T23:00:00")  # 22:00-23:00: its 15 rows

    # the day's last hour has not landed: the daily run waits, then fails naming it; nothing read
    waited = dags_test(stack, folder, lake, DAG, date=DAY)
    assert waited.returncode != 0
    out = waited.stdout + waited.stderr
    assert "hourly_bronze.bz_readings (covered up to 2026-11-28T23:00:00+00:00)" in out, out[-3000:]
    assert f"{DAG}_hourly" in out
    assert not (lake / "hourly_silver" / "readings").exists() and not (lake / "hourly_gold" / "per_sensor").exists()

    _sql(dsn, f"INSERT INTO {SCHEMA}.readings SELECT g, 'sensor-' || (g % 4), g, TIMESTAMP '2026-11-28 23:15' "
              "FROM generate_series(71, 75) g",
         f"DELETE FROM {SCHEMA}.readings WHERE reading_id IN (6, 7)")  # fmt: skip
    _hour(stack, folder, lake, "2026-11-29T00:00:00")  # 23:00-24:00: 5 rows and 2 deletes (a manual run dated the 29th)
    bronze = spark.read.format("delta").load(str(lake / "hourly_bronze" / "bz_readings"))
    before_rerun = sorted(map(tuple, bronze.drop("_load_timestamp", "_processing_timestamp", "_batch_id").collect()),
                          key=repr)  # fmt: skip
    _hour(stack, folder, lake, "2026-11-28T23:00:00")  # a rerun of 22:00-23:00 replaces exactly its slice

    bronze = spark.read.format("delta").load(str(lake / "hourly_bronze" / "bz_readings"))
    after = sorted(map(tuple, bronze.drop("_load_timestamp", "_processing_timestamp", "_batch_id").collect()), key=repr)
    assert after == before_rerun  # nothing duplicated, nothing lost
    slices = {
        (r[SLICE_START], r["_logical_date"], r["_record_status"]): r["n"]
        for r in bronze.groupBy(SLICE_START, "_logical_date", "_record_status").count().withColumnRenamed("count", "n").collect()
    }  # fmt: skip
    day = dt.date(2026, 11, 28)  # every hour of the 28th belongs to the 28th, whatever date its run had
    assert slices == {
        (dt.datetime(2026, 11, 28, 21), day, "ACTIVE"): 60,
        (dt.datetime(2026, 11, 28, 22), day, "ACTIVE"): 15,
        (dt.datetime(2026, 11, 28, 23), day, "ACTIVE"): 5,
        (dt.datetime(2026, 11, 28, 23), day, "DELETED"): 2,
    }

    done = dags_test(stack, folder, lake, DAG, date=DAY)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    with psycopg.connect(dsn) as conn:
        source = conn.execute(f"SELECT reading_id, sensor, value, updated_at FROM {SCHEMA}.readings").fetchall()
        gold_sql = conn.execute(f"{GOLD_SQL.replace('FROM readings', f'FROM {SCHEMA}.readings')}").fetchall()
    silver = spark.read.format("delta").load(str(lake / "hourly_silver" / "readings"))
    assert sorted(map(tuple, silver.select("reading_id", "sensor", "value", "updated_at").collect())) == sorted(source)
    gold = spark.read.format("delta").load(str(lake / "hourly_gold" / "per_sensor")).collect()
    assert sorted(tuple(r) for r in gold) == sorted((s, n, Decimal(t)) for s, n, t in gold_sql)

    # one asset event per commit: each hourly write (the rerun too), the daily silver and gold once
    events = _asset_events(stack)
    assert events["hourly_bronze.bz_readings"] == [
        "2026-11-28T22:00:00+00:00", "2026-11-28T23:00:00+00:00", "2026-11-29T00:00:00+00:00",
        "2026-11-28T23:00:00+00:00",
    ]  # fmt: skip
    assert events["hourly_silver.readings"] == ["2026-11-29T00:00:00+00:00"]
    assert events["hourly_gold.per_sensor"] == ["2026-11-29T00:00:00+00:00"]
