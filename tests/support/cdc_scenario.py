"""The change-data-capture test scenario's source and oracles (tests/integration/test_cdc.py): its
schema, pipeline file and stream of changes, the source/silver/bronze readers it compares, and the
in-process run helpers (a run per name and day, a failed step's error, the audit a failed chain
runs)."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import os
from dataclasses import dataclass
from pathlib import Path

import psycopg

from lakehouse_airflow.config import PipelineConfig
from lakehouse_contract.layout import step_result_path
from lakehouse_contract.naming import cdc_slot
from spark_jobs.runtime.faults import FAULT_ENV
from spark_jobs.storage.pgoutput import lsn_to_int
from support.dagrun import airflow_db
from support.inprocess import JobFailed, Run, run_pipeline, run_task, spark_specs

SCHEMA = "cdc_it"
DAG = "cdc_it_lakehouse"
TABLES = {"accounts": ("account_id",), "entries": ("account_id", "line_no")}
COLUMNS = {
    "accounts": ["account_id", "owner", "balance", "status", "opened_on", "updated_at"],
    "entries": ["account_id", "line_no", "amount", "memo", "booked_at"],
}
PIPELINE = f"""
dag_id: {DAG}
owner: data-platform
schedule: "0 1 * * *"
timezone: UTC
start_date: 2026-01-01
source: {{conn_id: inventory_source, database: DE, schema: {SCHEMA}, system: cdc_it}}
lakehouse: {{bronze_schema: cdc_bronze, silver_schema: cdc_silver, gold_schema: cdc_gold}}
monitor: {{project_code: CDC, process_load: cdc_it}}
defaults: {{cadence: cdc, num_partitions: 2}}
tables:
  accounts:
    priority: 1
    primary_key: [account_id]
    partition_column: account_id
    silver: {{required: [owner], lowercase: [status]}}
    columns: {{account_id: bigint, owner: string, balance: "decimal(12,2)", status: string, opened_on: date,
              updated_at: timestamp}}
  entries:
    priority: 2
    primary_key: [account_id, line_no]
    columns: {{account_id: bigint, line_no: int, amount: "decimal(12,2)", memo: string, booked_at: timestamp}}
"""
DDL = f"""
DROP SCHEMA IF EXISTS {SCHEMA} CASCADE;
CREATE SCHEMA {SCHEMA};
CREATE TABLE {SCHEMA}.accounts (account_id bigint PRIMARY KEY, owner text, balance numeric(12,2), status text,
                                 opened_on date, updated_at timestamp);
CREATE TABLE {SCHEMA}.entries (account_id bigint, line_no int, amount numeric(12,2), memo text, booked_at timestamp,
                                PRIMARY KEY (account_id, line_no));
INSERT INTO {SCHEMA}.accounts
  SELECT g, 'Owner ' || g, (g * 3.25)::numeric(12,2), CASE WHEN g % 3 = 0 THEN 'CLOSED' ELSE 'Open' END,
         DATE '2025-01-01' + g, TIMESTAMP '2026-11-01 08:00' + g * INTERVAL '1 minute'
  FROM generate_series(1, 300) g;
INSERT INTO {SCHEMA}.entries
  SELECT a, l, (a + l / 10.0)::numeric(12,2), 'memo ' || a || '/' || l, TIMESTAMP '2026-11-02 09:00' + l * INTERVAL '1 s'
  FROM generate_series(1, 300) a, generate_series(1, 3) l;
"""
# the stream between the snapshot and the second run: every kind of change, in several transactions
STREAM = [
    f"INSERT INTO {SCHEMA}.accounts VALUES (1001, 'New One', 10.00, 'Open', DATE '2026-11-20', now()::timestamp),"
    " (1002, 'New Two', 20.00, 'Open', DATE '2026-11-20', now()::timestamp)",
    f"UPDATE {SCHEMA}.accounts SET balance = balance + 1, updated_at = now()::timestamp WHERE account_id <= 20",
    f"UPDATE {SCHEMA}.accounts SET account_id = 5005, owner = 'Moved Five' WHERE account_id = 5",  # key change
    f"UPDATE {SCHEMA}.entries SET line_no = 9 WHERE account_id = 7 AND line_no = 1",  # composite key change
    f"DELETE FROM {SCHEMA}.accounts WHERE account_id IN (30, 31, 32)",
    f"DELETE FROM {SCHEMA}.entries WHERE account_id = 40",
    # one transaction: a key deleted and inserted again, and a row inserted then deleted (never seen)
    f"DELETE FROM {SCHEMA}.accounts WHERE account_id = 50; "
    f"INSERT INTO {SCHEMA}.accounts VALUES (50, 'Reborn', 0.50, 'Open', DATE '2026-11-21', now()::timestamp); "
    f"INSERT INTO {SCHEMA}.accounts VALUES (7777, 'Ghost', 1, 'Open', NULL, NULL); "
    f"DELETE FROM {SCHEMA}.accounts WHERE account_id = 7777",
    # a large multi-row transaction: 30 000 inserts and 900 updates at once
    f"INSERT INTO {SCHEMA}.entries SELECT a, l, l, NULL, TIMESTAMP '2026-11-21 00:00' "
    f"FROM generate_series(1, 300) a, generate_series(100, 199) l; "
    f"UPDATE {SCHEMA}.entries SET memo = upper(memo) WHERE line_no <= 3",
]


@dataclass
class Scenario:
    cfg: PipelineConfig
    lake: Path
    dsn: str
    runs: dict[str, dict]  # name -> what the test recorded then


def source_sql(dsn: str, *statements: str) -> None:
    """Each change flushed to the WAL when its commit returns (the local server runs with
    ``synchronous_commit = off``, and logical decoding reads flushed WAL only): what the test does
    next sees it in the log, however busy the machine is."""
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("SET synchronous_commit = on")
        for statement in statements:
            conn.execute(statement)  # each its own transaction (several statements: one)


def source_rows(dsn: str, table: str) -> list[tuple]:
    cols = COLUMNS[table]
    with psycopg.connect(dsn) as conn:
        return sorted(conn.execute(f"SELECT {', '.join(cols)} FROM {SCHEMA}.{table}").fetchall(), key=repr)


def _normal(table: str, row: tuple) -> tuple:
    """A source row as silver holds it (the status is lower-cased by the silver config)."""
    if table != "accounts":
        return row
    values = dict(zip(COLUMNS[table], row, strict=True))
    values["status"] = values["status"].lower() if values["status"] else None
    return tuple(values.values())


def naive_utc(row: tuple) -> tuple:
    """DuckDB reads Delta timestamps as UTC instants; Spark (session zone UTC) as naive UTC times."""
    return tuple(v.astimezone(dt.UTC).replace(tzinfo=None) if isinstance(v, dt.datetime) else v for v in row)


def silver_rows(spark, lake: Path, table: str) -> list[tuple]:
    frame = spark.read.format("delta").load(str(lake / "cdc_silver" / table)).select(*COLUMNS[table])
    return sorted((tuple(r) for r in frame.collect()), key=repr)


def bronze(spark, lake: Path, table: str):
    return spark.read.format("delta").load(str(lake / "cdc_bronze" / f"bz_{table}"))


def slot_position(dsn: str, table: str) -> int | None:
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT confirmed_flush_lsn::text FROM pg_replication_slots WHERE slot_name = %s", (cdc_slot(DAG, table),)
        ).fetchone()
    return lsn_to_int(row[0]) if row else None


def drop_slots(dsn: str) -> None:
    with psycopg.connect(dsn, autocommit=True) as conn:
        for table in TABLES:
            name = cdc_slot(DAG, table)
            conn.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE slot_name = %s",
                         (name,))  # fmt: skip
            conn.execute(f'DROP PUBLICATION IF EXISTS "{name}"')


def assert_silver_equals_source(spark, scenario: Scenario, when: str) -> None:
    for table in TABLES:
        expected = sorted((_normal(table, r) for r in source_rows(scenario.dsn, table)), key=repr)
        assert silver_rows(spark, scenario.lake, table) == expected, f"{when}: silver {table} != source"


def assert_each_change_once(spark, scenario: Scenario, table: str) -> None:
    changes = bronze(spark, scenario.lake, table).where("_op <> 'snapshot'")
    key = ["_lsn", "_seq"]
    assert changes.count() == changes.select(*key).distinct().count(), f"{table}: a change stored twice"


def run_id(name: str, day: str) -> str:
    return f"scheduled__{day}T01:00:00+00:00-{name}"


def run(scenario: Scenario, name: str, day: str, mode: str = "incremental", fault: str = "") -> None:
    os.environ[FAULT_ENV] = fault
    try:
        run_pipeline(scenario.cfg, Run(day, run_id(name, day), mode=mode), scenario.lake)
    finally:
        os.environ.pop(FAULT_ENV, None)


def audit_after_failure(scenario: Scenario, name: str, day: str, table: str) -> None:
    """What the DAG runs after a failed chain (trigger rule all_done): the table's audit, which
    records the failure and gives the table's lease back."""
    run = Run(day, run_id(name, day))
    audit = next(s for s in spark_specs(scenario.cfg, run) if s.full_id == f"{table}.audit")
    with contextlib.suppress(JobFailed):
        run_task(scenario.cfg, audit, run, scenario.lake)


def airflow_db_rows(stack: dict[str, str], sql: str) -> list[tuple]:
    with airflow_db(stack) as conn:
        return conn.execute(sql).fetchall()


def step_result(scenario: Scenario, name: str, day: str, table: str, step: str) -> dict:
    """What a step of a run recorded (its step result document)."""
    path = Path(step_result_path(str(scenario.lake), DAG, run_id(name, day), table, step))
    return dict(json.loads(path.read_text()))


def forget_asset_events(stack: dict[str, str]) -> None:
    """The scenario's tables' asset events from earlier sessions on this Airflow database, deleted."""
    with airflow_db(stack) as conn:
        conn.execute("DELETE FROM asset_event WHERE asset_id IN (SELECT id FROM asset WHERE name LIKE 'cdc\\_%%')")


def error_of(scenario: Scenario, name: str, day: str, table: str, step: str) -> str:
    """The error a failed step recorded in its step result."""
    result = step_result(scenario, name, day, table, step)
    assert result["status"] == "FAILED", result
    return str(result["error"])
