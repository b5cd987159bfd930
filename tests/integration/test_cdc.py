"""Change data capture from PostgreSQL logical replication (``cadence: cdc``), on the real services.

A two-table pipeline (``accounts``: one key column; ``entries``: a composite key) on its own source
schema. Each run is every Spark task of the pipeline, run in-process as the DAG runs them
(``support.inprocess``). The oracle is the source itself: after every run silver equals the source
table by key and content (SQL in PostgreSQL), and bronze holds each change of the log once.

One scenario, in order (module fixture), many assertions: the initial snapshot; a stream of
inserts, updates (key changes included), deletes, a delete-and-insert of one key and a large
multi-row transaction; a failure after the bronze commit and before the slot is confirmed (the
retry stores nothing twice); a failure inside the bronze write (nothing lost); a column added at
the source; a bronze table restored behind its slot (refused, then re-snapshotted with mode=full);
a contract column dropped at the source (refused, nothing written, the slot unmoved).
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator

import psycopg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pyspark.sql import functions as F

from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.monitor.cdc_slots import read_slot_states, slot_problems, slot_states
from lakehouse_airflow.monitor.metrics import render
from lakehouse_contract.naming import cdc_slot
from support import kernel
from support.cdc_scenario import (
    COLUMNS,
    DAG,
    DDL,
    PIPELINE,
    SCHEMA,
    STREAM,
    TABLES,
    Scenario,
    airflow_db_rows,
    assert_each_change_once,
    assert_silver_equals_source,
    audit_after_failure,
    bronze,
    drop_slots,
    error_of,
    forget_asset_events,
    naive_utc,
    run,
    silver_rows,
    slot_position,
    source_rows,
    source_sql,
    step_result,
)
from support.dagrun import asset_events, dags_test
from support.inprocess import JobFailed


@pytest.fixture(scope="module")
def scenario(stack, tmp_path_factory) -> Iterator[Scenario]:
    dsn = stack["AIRFLOW_CONN_INVENTORY_SOURCE"]
    drop_slots(dsn)
    source_sql(dsn, DDL)
    forget_asset_events(stack)  # an earlier session's events on this Airflow database would satisfy the wait
    tmp = tmp_path_factory.mktemp("cdc")
    (tmp / "cdc.yaml").write_text(textwrap.dedent(PIPELINE))
    scenario = Scenario(load_pipeline(tmp / "cdc.yaml"), tmp / "lake", dsn, {})
    try:
        yield scenario
    finally:
        drop_slots(dsn)  # a slot left behind would hold the server's WAL forever


def test_the_first_run_loads_the_snapshot_its_slot_exported(scenario: Scenario, spark) -> None:
    run(scenario, "snapshot", "2026-11-20")
    with psycopg.connect(scenario.dsn) as conn:
        slots = dict(
            conn.execute(
                "SELECT slot_name, plugin FROM pg_replication_slots WHERE slot_name LIKE %s", (f"lakehouse_{DAG}_%",)
            ).fetchall()
        )
        published = conn.execute(
            "SELECT pubname, tablename FROM pg_publication_tables WHERE schemaname = %s ORDER BY 1", (SCHEMA,)
        ).fetchall()
    assert slots == {cdc_slot(DAG, t): "pgoutput" for t in TABLES}
    assert published == [(cdc_slot(DAG, t), t) for t in sorted(TABLES)]
    for table in TABLES:
        rows = bronze(spark, scenario.lake, table)
        ops = {r[0]: r[1] for r in rows.groupBy("_op").count().collect()}
        assert ops == {"snapshot": len(source_rows(scenario.dsn, table))}
        # every snapshot row sits at the slot's consistent point, where the slot stands
        (lsn,) = {r[0] for r in rows.select("_lsn").distinct().collect()}
        assert lsn == slot_position(scenario.dsn, table)
    assert_silver_equals_source(spark, scenario, "after the snapshot")


def test_a_stream_of_changes_reaches_silver_exactly(scenario: Scenario, spark) -> None:
    before = {t: bronze(spark, scenario.lake, t).count() for t in TABLES}
    source_sql(scenario.dsn, *STREAM)
    run(scenario, "stream", "2026-11-21")
    assert_silver_equals_source(spark, scenario, "after the stream")
    accounts = bronze(spark, scenario.lake, "accounts").where("_op <> 'snapshot'")
    ops = {r[0]: r[1] for r in accounts.groupBy("_op").count().collect()}
    # 2 inserts, 20 updates, the key change (delete + update), 3 deletes, delete + insert of 50, the
    # ghost's insert and delete: each change of the log is a row, in log order
    assert ops == {"insert": 2 + 1 + 1, "update": 20 + 1, "delete": 1 + 3 + 1 + 1}
    moved = accounts.where("account_id IN (5, 5005)").orderBy("_lsn", "_seq").select("account_id", "_op").collect()
    # (the balance update of keys <= 20 came first), then the key change: the old key's delete, the update
    assert [tuple(r) for r in moved] == [(5, "update"), (5, "delete"), (5005, "update")]
    ghost = accounts.where("account_id = 7777").orderBy("_seq").select("_op", "_lsn").collect()
    assert [r[0] for r in ghost] == ["insert", "delete"] and ghost[0][1] == ghost[1][1]  # one transaction
    entries = bronze(spark, scenario.lake, "entries")
    # key change (delete + update), account 40's three lines, the big insert, the 896 lines <= 3 left
    assert entries.count() - before["entries"] == 2 + 3 + 30_000 + 896
    big = entries.where("line_no >= 100").select("_lsn").distinct().count()
    assert big == 1  # the large transaction: one commit position for its 30 000 rows
    for table in TABLES:
        assert_each_change_once(spark, scenario, table)
        stored = bronze(spark, scenario.lake, table).agg(F.max("_lsn")).first()[0]
        assert slot_position(scenario.dsn, table) == stored  # confirmed up to what bronze holds
    # the deleted keys are in bronze as tombstones, not in silver
    tomb = accounts.where("_op = 'delete'").select("_record_status").distinct().collect()
    assert [r[0] for r in tomb] == ["DELETED"]
    # a second Delta reader (delta-kernel-rs) sees the same silver rows, key by key
    con = kernel.connect()
    for table in TABLES:
        cols = ", ".join(COLUMNS[table])
        found = con.execute(f"SELECT {cols} FROM delta_scan('{scenario.lake}/cdc_silver/{table}')").fetchall()
        assert sorted(map(naive_utc, found), key=repr) == silver_rows(spark, scenario.lake, table)


def test_a_failure_after_the_bronze_commit_stores_nothing_twice(scenario: Scenario, spark) -> None:
    source_sql(scenario.dsn, f"UPDATE {SCHEMA}.accounts SET owner = owner || '*' WHERE account_id BETWEEN 100 AND 139",
         f"INSERT INTO {SCHEMA}.accounts VALUES (2001, 'After', 1, 'Open', NULL, NULL)")  # fmt: skip
    slot_before = slot_position(scenario.dsn, "accounts")
    bronze_before = bronze(spark, scenario.lake, "accounts").count()
    with pytest.raises(JobFailed, match="accounts.write_bronze"):
        run(scenario, "confirm", "2026-11-22", fault="confirm:accounts")
    assert "injected failure in confirm:accounts" in error_of(scenario, "confirm", "2026-11-22", "accounts",
                                                                "write_bronze")  # fmt: skip
    # the commit happened, the slot did not move: the log still offers those changes
    assert bronze(spark, scenario.lake, "accounts").count() == bronze_before + 41
    assert slot_position(scenario.dsn, "accounts") == slot_before
    run(scenario, "confirm", "2026-11-22")  # the retry: extract re-reads the same 41 changes
    assert bronze(spark, scenario.lake, "accounts").count() == bronze_before + 41
    assert_each_change_once(spark, scenario, "accounts")
    assert slot_position(scenario.dsn, "accounts") > slot_before
    assert_silver_equals_source(spark, scenario, "after the retry")


def test_a_failure_inside_the_bronze_write_loses_nothing(scenario: Scenario, spark) -> None:
    source_sql(scenario.dsn, f"DELETE FROM {SCHEMA}.entries WHERE account_id BETWEEN 200 AND 209 AND line_no < 100",
         f"UPDATE {SCHEMA}.entries SET amount = amount * 2 WHERE account_id = 1")  # fmt: skip
    version = spark.sql(f"DESCRIBE HISTORY delta.`{scenario.lake}/cdc_bronze/bz_entries`").first()["version"]
    slot_before = slot_position(scenario.dsn, "entries")
    with pytest.raises(JobFailed, match="entries.write_bronze"):
        run(scenario, "inside", "2026-11-23", fault="write_bronze:entries")
    after = spark.sql(f"DESCRIBE HISTORY delta.`{scenario.lake}/cdc_bronze/bz_entries`").first()["version"]
    assert after == version and slot_position(scenario.dsn, "entries") == slot_before
    run(scenario, "inside", "2026-11-23")
    assert_each_change_once(spark, scenario, "entries")
    assert_silver_equals_source(spark, scenario, "after the failed write's retry")


def test_the_wal_a_slot_holds_back_is_on_metrics_and_drains_with_the_next_run(scenario: Scenario, spark) -> None:
    """What a stopped CDC DAG costs the source, read live from it (`/metrics`, monitor/cdc_slots.py)."""
    idle = {s.table: s.retained_bytes for s in slot_states(scenario.cfg)}
    source_sql(scenario.dsn, f"UPDATE {SCHEMA}.entries SET memo = coalesce(memo, '') || '!' WHERE line_no >= 100")
    held = {s.table: s for s in slot_states(scenario.cfg)}
    assert {t: s.usable for t, s in held.items()} == {"accounts": True, "entries": True}
    assert (
        held["entries"].retained_bytes - idle["entries"] > 100_000
    )  # the update's WAL is kept (its size varies by run)
    text = render([], [scenario.cfg]).decode()
    samples = {
        (s.name, s.labels["dag_id"], s.labels["table"]): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
        if s.name.startswith("lakehouse_cdc")
    }
    assert samples[("lakehouse_cdc_slot_usable", f"{DAG}_cdc", "entries")] == 1.0
    assert samples[("lakehouse_cdc_slot_retained_bytes", f"{DAG}_cdc", "entries")] >= held["entries"].retained_bytes
    # the CDC DAG's last task checks the same figures against cdc.max_retained_mb and names the slot
    problems = slot_problems(read_slot_states(scenario.cfg), held["entries"].retained_bytes - 1)
    assert any(p.startswith(f"entries: slot {held['entries'].slot} holds back") for p in problems), problems
    run(scenario, "drained", "2026-11-23")
    drained = {s.table: s.retained_bytes for s in slot_states(scenario.cfg)}
    assert drained["entries"] < held["entries"].retained_bytes / 10  # confirmed: the WAL may go
    assert_silver_equals_source(spark, scenario, "after the drain")


def test_a_column_added_at_the_source_is_reported_and_not_loaded(scenario: Scenario, spark) -> None:
    source_sql(scenario.dsn, f"ALTER TABLE {SCHEMA}.accounts ADD COLUMN nickname text",
         f"UPDATE {SCHEMA}.accounts SET nickname = 'nick', balance = 99 WHERE account_id BETWEEN 60 AND 64")  # fmt: skip
    run(scenario, "added", "2026-11-24")
    assert_silver_equals_source(spark, scenario, "after a column was added")
    assert "nickname" not in bronze(spark, scenario.lake, "accounts").columns
    extracted = step_result(scenario, "added", "2026-11-24", "accounts", "extract")["metrics"]
    assert "nickname" in str(extracted["schema_changes"])  # reported (the JDBC check and the log both see it)


def test_a_bronze_table_behind_its_slot_is_refused_then_resnapshotted(scenario: Scenario, spark) -> None:
    """A bronze table restored to an older version no longer holds changes its slot has let go:
    reading on would lose them silently. The run refuses and names the way out (mode=full)."""
    path = f"{scenario.lake}/cdc_bronze/bz_accounts"
    first_version = spark.sql(f"DESCRIBE HISTORY delta.`{path}`").orderBy("version").first()["version"]
    spark.sql(f"RESTORE TABLE delta.`{path}` TO VERSION AS OF {first_version}")
    # a key deleted while bronze is behind: the re-snapshot must take it out of silver too
    source_sql(scenario.dsn, f"DELETE FROM {SCHEMA}.accounts WHERE account_id = 2")
    with pytest.raises(JobFailed, match="accounts.extract"):
        run(scenario, "behind", "2026-11-25")
    error = error_of(scenario, "behind", "2026-11-25", "accounts", "extract")
    assert "CdcSetupError" in error and "holds changes up to" in error and "mode=full" in error, error
    audit_after_failure(scenario, "behind", "2026-11-25", "accounts")
    run(scenario, "resnapshot", "2026-11-25", mode="full")
    ops = {r[0] for r in bronze(spark, scenario.lake, "accounts").select("_op").distinct().collect()}
    assert ops == {"snapshot"}  # the re-snapshot replaced bronze
    assert_silver_equals_source(spark, scenario, "after the re-snapshot")
    source_sql(scenario.dsn, f"UPDATE {SCHEMA}.accounts SET balance = 2 WHERE account_id = 3")
    run(scenario, "after-resnapshot", "2026-11-26")  # and the new slot streams on
    assert_silver_equals_source(spark, scenario, "after the re-snapshot's next run")


def test_the_cdc_dag_feeds_silver_and_the_daily_gold_waits_for_it(scenario: Scenario, spark, stack) -> None:
    """Under Airflow (`airflow dags test`): the pipeline with a gold model over the CDC table is two
    DAGs. The main DAG's gold waits on `cdc_caught_up`: with no CDC run covering its interval it
    fails after `cdc.wait_minutes` naming the table, gold untouched; after a run of the CDC DAG
    (its silver tasks emit their asset events) the main run passes and gold equals the source."""
    folder = scenario.lake.parent / "dags"
    folder.mkdir()
    (folder / "balances.sql").write_text(
        "SELECT status, count(*) AS accounts, sum(balance) AS balance FROM accounts GROUP BY status"
    )
    raw = yaml.safe_load(textwrap.dedent(PIPELINE))
    raw["retries"] = 0
    raw["cdc"] = {"wait_minutes": 1}
    raw["gold"] = {"models": {"balances": {"sql_file": "balances.sql", "inputs": ["accounts"]}}}
    (folder / "cdc.yaml").write_text(yaml.safe_dump(raw))
    source_sql(
        scenario.dsn, f"UPDATE {SCHEMA}.accounts SET balance = balance + 100, status = 'Frozen' WHERE account_id < 40"
    )

    waited = dags_test(stack, folder, scenario.lake, DAG, date="2026-11-28")
    assert waited.returncode != 0
    out = waited.stdout + waited.stderr
    assert "cdc_silver.accounts (covered up to never)" in out and f"{DAG}_cdc" in out, out[-3000:]
    assert not (scenario.lake / "cdc_gold" / "balances").exists()  # gold never read a partial interval

    # the CDC DAG for the table gold reads (entries is skipped: its silver emits no event)
    before_run = time.time()
    fed = dags_test(stack, folder, scenario.lake, f"{DAG}_cdc", args=("--conf", '{"tables": ["accounts"]}'),
                    date="2026-11-28")  # fmt: skip
    assert fed.returncode == 0, (fed.stdout + fed.stderr)[-3000:]
    # the lag in seconds, from the ETL monitor: since that run's extract of accounts started
    lags = {s.table: s.lag_seconds for s in read_slot_states(scenario.cfg)}
    assert lags["entries"] is None  # never confirmed under Airflow (its runs above were jobs alone)
    assert lags["accounts"] is not None and 0 < lags["accounts"] <= time.time() - before_run, lags
    assert_silver_equals_source(spark, scenario, "after the CDC DAG's run")
    ((run_id,),) = airflow_db_rows(
        stack, f"SELECT run_id FROM dag_run WHERE dag_id = '{DAG}_cdc' ORDER BY id DESC LIMIT 1"
    )
    ((check,),) = airflow_db_rows(
        stack,
        f"SELECT state FROM task_instance WHERE dag_id = '{DAG}_cdc' AND run_id = '{run_id}' AND task_id = 'cdc_slots'",
    )
    assert check == "success"  # the slots were checked after the run, within cdc.max_retained_mb and max_lag_minutes
    problems = slot_problems(read_slot_states(scenario.cfg), 2**40, lags["accounts"] / 2)  # a limit it is over
    assert [p.split(":")[0] for p in problems] == ["accounts"], problems
    events = asset_events(stack, run_id)
    assert {name: [task for task, _ in e] for name, e in events.items() if name.startswith("cdc_silver")} == {
        "cdc_silver.accounts": ["cdc_silver.accounts"]
    }  # fmt: skip

    done = dags_test(stack, folder, scenario.lake, DAG, date="2026-11-28")
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    with psycopg.connect(scenario.dsn) as conn:
        expected = conn.execute(
            f"SELECT lower(status), count(*), sum(balance) FROM {SCHEMA}.accounts GROUP BY lower(status)"
        ).fetchall()
    gold = spark.read.format("delta").load(str(scenario.lake / "cdc_gold" / "balances")).collect()
    assert sorted(tuple(r) for r in gold) == sorted(expected)


def test_a_contract_column_dropped_at_the_source_stops_the_run_and_moves_nothing(scenario: Scenario, spark) -> None:
    source_sql(scenario.dsn, f"ALTER TABLE {SCHEMA}.accounts DROP COLUMN opened_on",
         f"UPDATE {SCHEMA}.accounts SET balance = 3 WHERE account_id = 4")  # fmt: skip
    version = spark.sql(f"DESCRIBE HISTORY delta.`{scenario.lake}/cdc_bronze/bz_accounts`").first()["version"]
    slot_before = slot_position(scenario.dsn, "accounts")
    silver_before = silver_rows(spark, scenario.lake, "accounts")
    with pytest.raises(JobFailed, match="accounts.extract"):
        run(scenario, "dropped", "2026-11-27")
    error = error_of(scenario, "dropped", "2026-11-27", "accounts", "extract")
    assert "SchemaDriftError" in error and "opened_on" in error, error
    assert spark.sql(f"DESCRIBE HISTORY delta.`{scenario.lake}/cdc_bronze/bz_accounts`").first()["version"] == version
    assert slot_position(scenario.dsn, "accounts") == slot_before
    assert silver_rows(spark, scenario.lake, "accounts") == silver_before
