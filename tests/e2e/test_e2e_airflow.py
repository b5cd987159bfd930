"""The package as shipped under the real Airflow 3 services, driven through the REST API the UI uses.

`scripts/localairflow.sh up` starts the API server, scheduler, DAG processor and triggerer
(LocalExecutor) on a fresh metadata database `airflow_e2e` in the embedded PostgreSQL, a free port
and a temporary lakehouse; the pipeline is the shipped one pointed at the integration schema.

Order matters (one lakehouse, file order): a UI trigger loads everything, a three-date backfill and
a failed-then-cleared run follow, and a headless Chromium finally looks at the grid.

Scheduling note: unpausing a daily DAG makes the scheduler create a run for the latest complete
interval. The backfill is therefore created first (and held paused): its runs include that
interval, so the scheduler skips it ("run already exists"), as it would in production.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pendulum
import psycopg
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families
from pyspark.sql import functions as F

from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.monitor.store import MonitorStore
from support.airflow_api import AirflowApi
from support.browser import headless_chromium
from support.dagrun import DATE, SHIPPED, read_audit, read_bronze, read_silver, source_counts, state
from support.env import IT_SCHEMA, ROOT, free_port, sh
from support.webhook import Receiver, webhook_receiver

DAG = "inventory_lakehouse"
BACKFILL_CONF = {"tables": ["warehouses"]}
BROKEN = "suppliers"  # the table whose source goes missing in the clear-from-the-grid test
RESTARTED = "order_details"  # the table being extracted when the database restarts
GROUPS = ["products", "suppliers", "warehouses", "customers", "inventory", "orders", "order_details",
          "shipments", "returns", "stock_levels", "inventory_silver", "inventory_gold"]  # fmt: skip
ARTIFACTS = ROOT / ".local" / "e2e"
DEADLINE_MINUTES = 1
CFG = load_pipeline(SHIPPED)
MONITOR = MonitorStore(CFG.monitor.conn_id, CFG.monitor.schema_name)  # the suite's monitor (see conftest)


@dataclass
class Services:
    api: AirflowApi
    base_url: str
    lake: Path
    home: Path
    backfill_id: int
    backfill_dates: list[pendulum.DateTime]


@pytest.fixture(scope="module")
def alerts() -> Iterator[Receiver]:
    """The alert webhook's endpoint (AIRFLOW_CONN_LAKEHOUSE_ALERTS of the services)."""
    with webhook_receiver() as receiver:
        yield receiver


@pytest.fixture(scope="module")
def airflow(stack: dict[str, str], alerts: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Services]:
    from support.dagrun import pipeline_dir

    tmp = tmp_path_factory.mktemp("e2e")
    port = free_port()
    # the local environment with a 1-minute run deadline: every full run here passes it
    environments = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    environments["environments"]["local"]["run_deadline_minutes"] = DEADLINE_MINUTES
    (tmp / "environments.yaml").write_text(yaml.safe_dump(environments))
    env = {
        **stack,
        "LAKEHOUSE_AIRFLOW_PORT": str(port),
        "LAKEHOUSE_AIRFLOW_HOME": str(tmp / "airflow"),
        "LAKEHOUSE_AIRFLOW_DB": "airflow_e2e",
        "LAKEHOUSE_PIPELINES_DIR": str(pipeline_dir(tmp, "inventory")),
        "LAKEHOUSE_ROOT": str(tmp / "lake"),
        "LAKEHOUSE_ENVIRONMENTS_FILE": str(tmp / "environments.yaml"),
        "AIRFLOW_CONN_LAKEHOUSE_ALERTS": alerts.url,
    }
    sh("scripts/localpg.sh createdb airflow_e2e airflow --fresh")
    sh("scripts/localairflow.sh up", env=env, timeout=600)
    try:
        base_url = f"http://localhost:{port}"
        api = AirflowApi(base_url, "admin", stack["LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD"])
        dag = api.wait_for_dag(DAG)
        assert dag["is_paused"], "DAGs are paused at creation"
        latest = pendulum.parse(dag["next_dagrun_logical_date"])
        dates = [latest.subtract(days=2), latest.subtract(days=1), latest]
        backfill = api.backfill(DAG, dates[0].isoformat(), dates[-1].isoformat(), BACKFILL_CONF)
        api.set_backfill_paused(backfill["id"], True)
        api.set_paused(DAG, False)
        yield Services(api, base_url, tmp / "lake", tmp / "airflow", backfill["id"], dates)
    finally:
        sh("scripts/localairflow.sh down", env=env, check=False)


def _airflow_db_interval(stack: dict[str, str], run_id: str) -> tuple[str, str]:
    dsn = stack["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg.connect(dsn) as conn:
        start, end = conn.execute(
            "SELECT data_interval_start, data_interval_end FROM dag_run WHERE run_id = %s", (run_id,)
        ).fetchone()
    return pendulum.instance(start).isoformat(), pendulum.instance(end).isoformat()


def test_triggered_run_succeeds_and_matches_dags_test(airflow: Services, first, spark, stack) -> None:
    run = airflow.api.trigger(DAG, f"{DATE}T00:00:00Z")
    done = airflow.api.wait_for_run(DAG, run["dag_run_id"], timeout=1500)
    states = airflow.api.task_states(DAG, run["dag_run_id"])
    assert done["state"] == "success", states
    assert set(states.values()) == {"success"} and len(states) == 10 * 4 + 10 + 6 + 1  # + summary

    # the same logical date gives the same data interval as `airflow dags test` ...
    got = (
        pendulum.parse(done["data_interval_start"]).isoformat(),
        pendulum.parse(done["data_interval_end"]).isoformat(),
    )
    assert got == _airflow_db_interval(stack, first.run_id)
    # ... and the same tables: every silver and gold row (who-loaded-it columns aside)
    assert state(spark, airflow.lake) == state(spark, first.lake)
    audit = read_audit(spark, airflow.lake).where(F.col("job_run_id") == run["dag_run_id"])
    assert audit.where("layer = 'bronze' OR layer IS NULL").count() == 10
    assert audit.where("status <> 'SUCCESS'").count() == 0


def test_run_over_its_deadline_is_marked_and_alerted(airflow: Services, alerts: Receiver) -> None:
    """The triggered run took longer than the 1-minute deadline: the listener's check marked it in the
    monitor and posted the alert once."""
    (run,) = airflow.api.runs(DAG, run_type="manual")
    body = alerts.wait_for(lambda b: b.get("event") == "deadline_missed" and b["run_id"] == run["dag_run_id"])
    assert body["deadline_minutes"] == DEADLINE_MINUTES and body["dag_id"] == DAG
    _, marked = MONITOR.query(
        "SELECT deadline_breached, deadline_minutes FROM __SCHEMA__.process_runs WHERE run_id = %s",
        (run["dag_run_id"],),
    )
    assert marked == [(True, DEADLINE_MINUTES)]


def test_metrics_endpoint_reports_the_run_like_the_audit(airflow: Services, spark) -> None:
    """Prometheus scrape of the API server's plugin endpoint after the triggered run: the values are
    the monitor's, which the listener took from the jobs; they must equal the audit log's."""
    (run,) = airflow.api.runs(DAG, run_type="manual")
    resp = httpx.get(f"{airflow.base_url}/metrics/", timeout=60)
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/plain"), resp.text[:500]
    samples = {
        (s.name, s.labels.get("table"), s.labels.get("layer"), s.labels.get("outcome")): s.value
        for family in text_string_to_metric_families(resp.text)
        for s in family.samples
        if s.labels.get("dag_id") == DAG
    }
    audit = read_audit(spark, airflow.lake).where(F.col("job_run_id") == run["dag_run_id"]).collect()
    assert {a["layer"] for a in audit} == {"bronze", "silver", "gold"}
    for a in audit:
        table = a["target_table"].split(".", 1)[1].removeprefix("bz_")
        assert samples[("lakehouse_rows_written", table, a["layer"], None)] == a["rows_written"], a
        if a["layer"] == "bronze":
            assert samples[("lakehouse_rows_read", table, "bronze", None)] == a["source_row_count"]
        if a["layer"] == "silver":
            assert samples[("lakehouse_rows_quarantined", table, "silver", None)] == a["rows_quarantined"]
            assert samples[("lakehouse_dq_score", table, "silver", None)] == pytest.approx(a["dq_score"])
    for table in CFG.tables:
        assert 0 <= samples[("lakehouse_freshness_lag_seconds", table, None, None)] < 3600
        assert samples[("lakehouse_task_outcomes_total", table, "bronze", "success")] >= 4
    assert ("lakehouse_task_outcomes_total", "orders", "bronze", "failure") not in samples
    assert samples[("lakehouse_run_deadline_breaches_total", None, None, None)] >= 1


def test_backfill_runs_three_dates_each_with_its_own_interval(airflow: Services, spark, source_dsn) -> None:
    airflow.api.set_backfill_paused(airflow.backfill_id, False)
    runs = airflow.api.runs(DAG, run_type="backfill")
    assert len(runs) == 3
    for r in runs:
        assert airflow.api.wait_for_run(DAG, r["dag_run_id"], timeout=900)["state"] == "success"
    runs = airflow.api.runs(DAG, run_type="backfill")
    assert [pendulum.parse(r["logical_date"]) for r in runs] == airflow.backfill_dates
    for r, date in zip(runs, airflow.backfill_dates, strict=True):
        assert r["conf"] == BACKFILL_CONF
        assert pendulum.parse(r["data_interval_start"]) == date
        assert pendulum.parse(r["data_interval_end"]) == date.add(days=1)
        states = airflow.api.task_states(DAG, r["dag_run_id"])
        assert {t: s for t, s in states.items() if t.startswith("warehouses.")} == {
            f"warehouses.{step}": "success" for step in ("validate_connection", "extract", "write_bronze", "audit")
        }
        assert states["products.extract"] == "skipped"
    assert airflow.api.wait_for_backfill(airflow.backfill_id)["completed_at"]

    # one audit row per backfill run, for its own logical date; bronze holds the source once
    audit = read_audit(spark, airflow.lake).where("target_table = 'inventory_bronze.bz_warehouses'")
    by_run = {r["job_run_id"]: (r["logical_date"], r["load_mode"], r["status"]) for r in audit.collect()}
    for r, date in zip(runs, airflow.backfill_dates, strict=True):
        # the source had not changed since the UI-triggered run loaded it: reconciled, not reloaded
        assert by_run[r["dag_run_id"]] == (date.date(), "unchanged", "SUCCESS")
    bronze = read_bronze(spark, airflow.lake, "warehouses")
    key = list(CFG.tables["warehouses"].primary_key)
    assert bronze.count() == bronze.select(*key).distinct().count() == source_counts(source_dsn)["warehouses"]
    (batch,) = {r["_batch_id"] for r in bronze.select("_batch_id").distinct().collect()}
    assert batch in by_run and batch not in {r["dag_run_id"] for r in runs}
    # the monitor records them as historic processing, one run per processing date
    columns, rows = MONITOR.query(
        "SELECT run_id, processing_date, processing_mode, state FROM __SCHEMA__.process_runs "
        "WHERE workflow_id = %s AND run_type = 'backfill' ORDER BY processing_date",
        (DAG,),
    )
    assert rows == [(r["dag_run_id"], pendulum.parse(r["logical_date"]).date(), "HISTORIC", "SUCCESS") for r in runs]


def test_failed_task_cleared_from_the_grid_reruns_with_downstream(
    airflow: Services, alerts: Receiver, spark, source_dsn, stack
) -> None:
    silver_before = state(spark, airflow.lake)
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {IT_SCHEMA}.{BROKEN} RENAME TO {BROKEN}_offline")
        try:
            run = airflow.api.trigger(DAG, "2026-11-19T00:00:00Z", {"tables": [BROKEN]})
            run_id = run["dag_run_id"]
            assert airflow.api.wait_for_run(DAG, run_id)["state"] == "failed"
        finally:
            conn.execute(f"ALTER TABLE {IT_SCHEMA}.{BROKEN}_offline RENAME TO {BROKEN}")
    states = airflow.api.task_states(DAG, run_id)
    validate = f"{BROKEN}.validate_connection"
    assert states[validate] == "failed"
    chain = [f"{BROKEN}.extract", f"{BROKEN}.write_bronze", f"inventory_silver.{BROKEN}"]
    assert {states[t] for t in chain} == {"upstream_failed"}
    audit_task = f"{BROKEN}.audit"  # runs whatever happened upstream, records the failure, fails the run
    assert states[audit_task] == "failed"
    chain.append(audit_task)
    log = airflow.api.task_log(DAG, run_id, validate, 1)
    assert f"check 'table exists' failed: {IT_SCHEMA}.{BROKEN} not found" in log, log[-3000:]
    password = urlsplit(source_dsn).password
    assert password and password not in log
    # the failure went out on the alert webhook (the notifier of every task), secrets masked
    alert = alerts.wait_for(lambda b: b.get("event") == "task_failed" and b["task_id"] == validate)
    assert (alert["run_id"], alert["try_number"]) == (run_id, 1)
    assert "check 'table exists' failed" in alert["error"] and password not in str(alerts.received)
    # the monitor: the failed mandatory check blocks its table's silver task, and is a current failure
    _, blockers = MONITOR.query(
        "SELECT blocking_task, blocked_task_ids FROM __SCHEMA__.v_mandatory_blockers WHERE run_id = %s", (run_id,)
    )
    blocked = dict(blockers)
    assert set(blocked) == {validate, audit_task} and f"inventory_silver.{BROKEN}" in blocked[validate]
    _, failures = MONITOR.query("SELECT task_id FROM __SCHEMA__.v_current_failures WHERE run_id = %s", (run_id,))
    assert {f for (f,) in failures} == {validate, audit_task}

    cleared = {ti["task_id"] for ti in airflow.api.clear_task(DAG, run_id, validate)}
    assert {validate, *chain} <= cleared
    assert not any(t.startswith("products.") for t in cleared)
    done = airflow.api.wait_for_run(DAG, run_id)
    states = airflow.api.task_states(DAG, run_id)
    assert done["state"] == "success", states
    assert {states[t] for t in [validate, *chain]} == {"success"}
    assert airflow.api.task_instance(DAG, run_id, validate)["try_number"] == 2
    # the step went NQUE -> FAIL -> RQUE -> DONE, each transition in the receipts
    _, receipts = MONITOR.query(
        "SELECT try_number, event, step_status FROM __SCHEMA__.run_receipts "
        "WHERE run_id = %s AND task_id = %s ORDER BY receipt_id", (run_id, validate),
    )  # fmt: skip
    assert receipts == [(1, "task_running", "NQUE"), (1, "task_failed", "FAIL"),
                        (2, "task_running", "RQUE"), (2, "task_success", "DONE")]  # fmt: skip
    _, steps = MONITOR.query(
        "SELECT status, attempt_count FROM __SCHEMA__.processing_steps WHERE run_id = %s AND task_id = %s",
        (run_id, validate),
    )
    assert steps == [("DONE", 2)]

    # no duplicates anywhere: bronze holds the source once, one audit row per attempt (the failure
    # is history, kept), silver and gold unchanged
    bronze = read_bronze(spark, airflow.lake, BROKEN)
    key = list(CFG.tables[BROKEN].primary_key)
    assert bronze.count() == bronze.select(*key).distinct().count() == source_counts(source_dsn)[BROKEN]
    audit = read_audit(spark, airflow.lake).where(F.col("job_run_id") == run_id)
    attempts = audit.where(f"target_table = 'inventory_bronze.bz_{BROKEN}'").orderBy("load_timestamp")
    assert [r["status"] for r in attempts.collect()] == ["FAILED", "SUCCESS"]
    assert read_silver(spark, airflow.lake, BROKEN).count() == len(silver_before[f"inventory_silver.{BROKEN}"])
    assert state(spark, airflow.lake) == silver_before


def test_database_restart_mid_run_then_clearing_what_failed_completes_it(airflow: Services, spark, source_dsn) -> None:
    """The embedded PostgreSQL holds the source and the Airflow metadata database: restarting it
    while a run's extract runs hits the scheduler, the API server, the task and its source read at
    once. The services come back (supervised, as `restart: always` does in Docker), the run ends;
    clearing whatever failed completes it, and nothing is duplicated."""
    before = state(spark, airflow.lake)
    api = airflow.api
    run_id = api.trigger(DAG, "2026-11-18T00:00:00Z", {"tables": [RESTARTED]})["dag_run_id"]
    extract = f"{RESTARTED}.extract"
    api.poll(lambda: api.task_states(DAG, run_id), lambda s: s.get(extract) == "running", "extract running")
    sh("scripts/localpg.sh down")
    sh("scripts/localpg.sh up")
    finished = api.poll(lambda: api.run(DAG, run_id), lambda r: r["state"] in ("success", "failed"), "run end")
    first_states = api.task_states(DAG, run_id)
    if finished["state"] == "failed":
        api.poll(lambda: api.clear_failed(DAG, run_id), bool, "clear failed tasks", timeout=120)
        finished = api.poll(lambda: api.run(DAG, run_id), lambda r: r["state"] in ("success", "failed"), "rerun")
    states = api.task_states(DAG, run_id)
    assert finished["state"] == "success", (first_states, states)
    health = api.poll(
        api.health,
        lambda h: all(v.get("status") == "healthy" for v in h.values() if isinstance(v, dict)),
        "healthy services",
        timeout=300,
    )
    assert health["scheduler"]["status"] == "healthy"
    # bronze holds the source once; the run's audit ends in SUCCESS; silver and gold as before
    bronze = read_bronze(spark, airflow.lake, RESTARTED)
    key = list(CFG.tables[RESTARTED].primary_key)
    day = bronze.where(F.col("_logical_date") == "2026-11-18")
    assert day.count() == day.select(*key).distinct().count()
    assert bronze.select(*key).distinct().count() == source_counts(source_dsn)[RESTARTED]
    audit = read_audit(spark, airflow.lake).where(F.col("job_run_id") == run_id).orderBy("load_timestamp")
    assert [r["status"] for r in audit.where("layer = 'bronze' OR layer IS NULL").collect()][-1] == "SUCCESS"
    dated = "inventory_gold.inventory_health"  # computed as of the run's logical date: another date, other rows
    after = state(spark, airflow.lake)
    assert {k: v for k, v in after.items() if k != dated} == {k: v for k, v in before.items() if k != dated}


def test_grid_page_renders_the_task_groups_in_headless_chromium(airflow: Services, tmp_path: Path) -> None:
    shot = ARTIFACTS / "grid.png"
    with headless_chromium(tmp_path / "chromium") as page:
        # the UI authenticates with the JWT cookie its login sets; obtained here through the same login API
        page.set_cookie(airflow.base_url, "_token", airflow.api.token())
        page.open(f"{airflow.base_url}/dags/{DAG}")
        try:
            text = page.wait_for_text([DAG, *GROUPS])
        finally:
            page.screenshot(shot)
    assert "Trigger" in text and "Backfill" in text
    assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 20_000
