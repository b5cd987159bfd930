"""The ETL monitor as the listener filled it during the shared run (`airflow dags test`): steps,
receipts, views, watermarks, against the audit log; readable with Spark SQL and the CLI."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.monitor.catalogue import catalogue
from lakehouse_airflow.monitor.store import MonitorStore
from support.dagrun import DATE, read_audit
from support.env import MONITOR_DB, sh

DAG = "inventory_lakehouse"


@pytest.fixture(scope="module")
def store(stack: dict[str, str]) -> MonitorStore:
    return MonitorStore("lakehouse_monitor", "etl_monitor")


def _rows(store: MonitorStore, sql: str, *params: object) -> list[dict]:
    columns, rows = store.query(sql, params)
    return [dict(zip(columns, r, strict=True)) for r in rows]


def test_every_task_of_the_run_is_done_once_with_its_receipts(first, store: MonitorStore) -> None:
    cfg = load_pipeline(first.pipelines / "inventory.yaml")
    steps = {
        r["task_id"]: r
        for r in _rows(
            store, "SELECT * FROM __SCHEMA__.processing_steps WHERE workflow_id = %s AND run_id = %s", DAG, first.run_id
        )  # fmt: skip
    }
    assert set(steps) == {t.task_id for t in catalogue(cfg)}
    assert {(r["status"], r["attempt_count"]) for r in steps.values()} == {("DONE", 1)}
    assert {r["processing_date"] for r in steps.values()} == {dt.date.fromisoformat(DATE)}
    assert all(r["start_time"] <= r["end_time"] for r in steps.values())
    receipts = _rows(
        store, "SELECT task_id, event, step_status FROM __SCHEMA__.run_receipts "
        "WHERE workflow_id = %s AND run_id = %s ORDER BY receipt_id", DAG, first.run_id,
    )  # fmt: skip
    for task in steps:
        assert [(r["event"], r["step_status"]) for r in receipts if r["task_id"] == task] == [
            ("task_running", "NQUE"), ("task_success", "DONE"),
        ], task  # fmt: skip
    assert [r["event"] for r in receipts if r["task_id"] is None] == ["dag_run_success"]


def test_rows_and_quality_match_the_audit_log(first, spark, store: MonitorStore) -> None:
    steps = {
        r["task_id"]: r
        for r in _rows(
            store, "SELECT * FROM __SCHEMA__.processing_steps WHERE workflow_id = %s AND run_id = %s", DAG, first.run_id
        )  # fmt: skip
    }
    audit = read_audit(spark, first.lake).where(F.col("job_run_id") == first.run_id).collect()
    bronze = [a for a in audit if a["layer"] == "bronze"]
    silver = [a for a in audit if a["layer"] == "silver"]
    assert len(bronze) == len(silver) == 10
    for a in bronze:
        table = a["target_table"].split(".bz_", 1)[1]
        assert steps[f"{table}.extract"]["rows_read"] == a["source_row_count"] > 0
        assert steps[f"{table}.write_bronze"]["rows_written"] == a["row_count"], table
    for a in silver:
        step = steps[a["target_table"]]  # inventory_silver.<table> is the silver task's id
        assert (step["rows_written"], step["rows_quarantined"]) == (a["rows_written"], a["rows_quarantined"])
        assert step["dq_score"] == pytest.approx(a["dq_score"])
    assert sum(a["rows_quarantined"] for a in silver) > 0  # the seed's dirt is counted, not only zeros


def test_views_summarise_the_run(first, store: MonitorStore) -> None:
    tasks = 10 * 4 + 10 + 6
    (summary,) = _rows(store, "SELECT * FROM __SCHEMA__.v_run_summary WHERE run_id = %s", first.run_id)
    assert (summary["attempt"], summary["tasks"], summary["done"], summary["fail"]) == (1, tasks, tasks, 0)
    (status,) = _rows(
        store, "SELECT * FROM __SCHEMA__.v_process_status WHERE workflow_id = %s AND processing_date = %s",
        DAG, dt.date.fromisoformat(DATE),
    )  # fmt: skip
    # the date's latest run: this one, or the e2e suite's full run of the same date; both complete
    # (the e2e run passes its 1-minute deadline on purpose: its breach flag is not this run's)
    assert (status["process_status"], status["run_state"], status["tasks"], status["done"], status["failed"]) == (
        "COMPLETE", "SUCCESS", tasks, tasks, 0,
    )  # fmt: skip
    (run,) = _rows(store, "SELECT * FROM __SCHEMA__.process_runs WHERE run_id = %s", first.run_id)
    assert (run["state"], run["deadline_breached"]) == ("SUCCESS", False)
    detail = _rows(store, "SELECT * FROM __SCHEMA__.v_task_detail WHERE run_id = %s", first.run_id)
    assert len(detail) == tasks and not any(r["sla_breached"] for r in detail)
    for view in ("v_current_failures", "v_mandatory_blockers"):
        assert _rows(store, f"SELECT * FROM __SCHEMA__.{view} WHERE run_id = %s", first.run_id) == []


def test_watermarks_advance_to_the_bronze_load_start(first, store: MonitorStore) -> None:
    marks = {
        r["param_name"]: r for r in _rows(store, "SELECT * FROM __SCHEMA__.v_watermarks WHERE workflow_id = %s", DAG)
    }
    # the start of each table's write_bronze that ended DONE last (later suites reuse this DAG id)
    sql = (
        "SELECT DISTINCT ON (task_id) task_id, start_time FROM __SCHEMA__.processing_steps "
        "WHERE workflow_id = %s AND task_id LIKE '%%.write_bronze' AND status = 'DONE' ORDER BY task_id, end_time DESC"
    )
    starts = {r["task_id"]: r["start_time"] for r in _rows(store, sql, DAG)}
    assert {r["param_type"] for r in marks.values()} == {"DELTA_DATE", "DELTA_ID", "FLAG", "SYSTEM"}
    for name in ("products", "orders", "stock_levels"):
        mark = marks[f"{name}_last_load"]
        assert mark["date_value"] == starts[f"{name}.write_bronze"]
        assert mark["ActiveValue"] == mark["date_value"].astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert int(marks["run_sequence"]["ActiveValue"]) >= 1
    assert (marks["bulk_reload"]["ActiveValue"], marks["source_system"]["ActiveValue"]) == ("N", "inventory_postgres")


def test_queryable_with_spark_sql_and_the_cli(first, spark, stack: dict[str, str]) -> None:
    from urllib.parse import urlsplit

    url = urlsplit(stack["AIRFLOW_CONN_LAKEHOUSE_MONITOR"])
    assert url.path == f"/{MONITOR_DB}"
    (spark.read.format("jdbc")
        .option("url", f"jdbc:postgresql://{url.hostname}:{url.port}{url.path}")
        .option("driver", "org.postgresql.Driver").option("user", url.username).option("password", url.password)
        .option("dbtable", "etl_monitor.v_run_summary").load()
        .createOrReplaceTempView("v_run_summary"))  # fmt: skip
    (row,) = spark.sql(f"SELECT done, fail FROM v_run_summary WHERE run_id = '{first.run_id}'").collect()
    assert (row["done"], row["fail"]) == (56, 0)

    out = sh(["python", "-m", "lakehouse_airflow.monitor", "--dag-id", DAG, "--run-id", first.run_id], env=stack).stdout
    assert f"run {first.run_id} of {DAG}" in out and "current failures" in out
    header, _, line = out.splitlines()[1:4]
    assert header.split()[:6] == ["attempt", "tasks", "nque", "rque", "done", "fail"]
    assert line.split()[:6] == ["1", "56", "0", "0", "56", "0"]


def json_log_lines(text: str) -> list[dict]:
    """The JSON objects the Spark jobs logged, wherever Airflow's log prefix put them in a line."""
    decoder, found = json.JSONDecoder(), []
    for line in text.splitlines():
        candidates = [line]
        if line.startswith("{"):  # a JSON task-log record: the job's line is its "event"
            try:
                candidates.append(str(json.loads(line).get("event", "")))
            except (ValueError, AttributeError):
                pass
        for candidate in candidates:
            start = candidate.find('{"ts"')
            if start < 0:
                continue
            try:
                record, _ = decoder.raw_decode(candidate, start)  # Airflow may append the logger name
            except ValueError:
                continue
            if isinstance(record, dict) and "job" in record:
                found.append(record)
    return found


def test_spark_jobs_log_json_lines_with_the_correlation_id(first, stack: dict[str, str]) -> None:
    logs = "".join(p.read_text(errors="ignore") for p in Path(stack["AIRFLOW_HOME"], "logs").rglob("*") if p.is_file())
    records = [r for r in json_log_lines(logs + first.output) if r.get("run_id") == first.run_id]
    extract = [r for r in records if r["task_id"] == "orders.extract"]
    assert extract, "no JSON log line of orders.extract in the task logs"
    for record in extract:
        assert (record["dag_id"], record["table"], record["try_number"], record["job"]) == (
            DAG, "orders", 1, "extract",
        )  # fmt: skip
        assert {"ts", "level", "logger", "msg"} <= set(record)
    done = next(r for r in extract if r.get("status") == "SUCCESS")
    assert done["msg"] == "extract succeeded" and done["rows_read"] > 0 and done["seconds"] >= 0
    assert {r["task_id"] for r in records} >= {
        "orders.write_bronze",
        "inventory_silver.orders",
        "inventory_gold.daily_sales",
    }


def test_airflow_tasks_test_is_not_recorded(first, store: MonitorStore, stack: dict[str, str]) -> None:
    """`airflow tasks test` does not record state (Airflow's own contract): no monitor rows, no receipts."""

    def counts() -> tuple[int, ...]:
        tables = ("process_runs", "processing_steps", "run_receipts")
        return tuple(store.query(f"SELECT count(*) FROM __SCHEMA__.{t}", ())[1][0][0] for t in tables)

    before = counts()
    env = {**stack, "LAKEHOUSE_PIPELINES_DIR": str(first.pipelines), "LAKEHOUSE_ROOT": str(first.lake)}
    out = sh(["airflow", "tasks", "test", DAG, "products.validate_connection", "2026-10-01"], env=env)
    assert "new_state=success" in out.stdout + out.stderr, (out.stdout + out.stderr)[-3000:]
    assert counts() == before


def test_a_run_over_its_deadline_is_marked_once_and_alerted(first, store: MonitorStore, monkeypatch, tmp_path) -> None:
    """The listener's deadline check on the shared run (it took minutes) with a 1-minute deadline.
    Last in this file: it leaves the run marked as breached."""
    import yaml

    from lakehouse_airflow.monitor.listener import check_deadline
    from lakehouse_airflow.monitor.monitored import tracked
    from support.webhook import webhook_receiver

    envs = tmp_path / "environments.yaml"
    envs.write_text(yaml.safe_dump({"environments": {"local": {"backend": "local", "run_deadline_minutes": 1}}}))
    monkeypatch.setenv("LAKEHOUSE_ENVIRONMENTS_FILE", str(envs))
    found = tracked(DAG)
    assert found is not None
    sql = "SELECT * FROM __SCHEMA__.process_runs WHERE workflow_id = %s AND run_id = %s"
    (run,) = _rows(store, sql, DAG, first.run_id)
    assert run["deadline_breached"] is False and run["ended_at"] - run["started_at"] > dt.timedelta(minutes=1)
    with webhook_receiver() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_LAKEHOUSE_ALERTS", hook.url)
        assert check_deadline(found[0], store, DAG, first.run_id) is True
        assert check_deadline(found[0], store, DAG, first.run_id) is False  # alerted once
        ((_, body),) = hook.received
    assert (body["event"], body["run_id"], body["deadline_minutes"]) == ("deadline_missed", first.run_id, 1)
    (run,) = _rows(store, sql, DAG, first.run_id)
    assert (run["deadline_breached"], run["deadline_minutes"]) == (True, 1)
    events = _rows(
        store, "SELECT event FROM __SCHEMA__.run_receipts WHERE run_id = %s AND task_id IS NULL", first.run_id
    )
    assert [e["event"] for e in events][-1] == "deadline_missed"
