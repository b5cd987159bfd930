"""Alerts without services: the DAG's failure notifier and run deadline from config and
environment; the notifier POSTs to a real local HTTP endpoint through the http provider."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

from lakehouse_airflow.build.dag import build_dag
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.config.environments import load_environments
from lakehouse_airflow.config.monitor import AlertsConfig
from lakehouse_airflow.monitor.alerts import FailureNotifier, deadline_alert, send
from support.webhook import webhook_receiver

ROOT = Path(__file__).resolve().parents[2]
CFG = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")


def test_every_task_alerts_on_failure_and_environments_set_the_run_deadline() -> None:
    dag = build_dag(CFG)
    for task in dag.tasks:
        (notifier,) = task.on_failure_callback
        assert isinstance(notifier, FailureNotifier) and notifier.alerts["webhook_conn_id"] == "lakehouse_alerts"
    envs = load_environments()
    assert envs["local"].run_deadline_minutes == envs["prod"].run_deadline_minutes == 120  # the job's 2 hours
    assert envs["dev"].run_deadline_minutes == 180
    assert not dag.deadline  # checked by the monitor's listener, not Airflow's DeadlineAlert (see alerts.py)


def test_no_channels_no_failure_callback() -> None:
    cfg = CFG.model_copy(update={"alerts": AlertsConfig(webhook_conn_id=None)})
    assert all(not t.on_failure_callback for t in build_dag(cfg).tasks)


def _context(error: Exception) -> dict:
    ti = SimpleNamespace(dag_id="d", run_id="manual__1", task_id="orders.extract", try_number=2, log_url="http://x/log")
    return {"ti": ti, "exception": error, "logical_date": dt.datetime(2026, 11, 20, tzinfo=dt.UTC)}


def test_failure_notifier_posts_the_failure_to_the_webhook_connection(monkeypatch) -> None:
    with webhook_receiver() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_ALERTS", hook.url)
        notifier = FailureNotifier(AlertsConfig(webhook_conn_id="test_alerts", webhook_endpoint="/hooks/lakehouse"))
        notifier.notify(_context(ValueError("source table tests.orders not found")))
        ((path, body),) = hook.received
    assert path == "/hooks/lakehouse"
    assert (body["event"], body["dag_id"], body["run_id"], body["task_id"], body["try_number"]) == (
        "task_failed", "d", "manual__1", "orders.extract", 2,
    )  # fmt: skip
    assert body["error"] == "ValueError: source table tests.orders not found"
    assert body["text"] == "d: task orders.extract failed (try 2) in run manual__1"


def test_channels_without_a_connection_are_skipped(monkeypatch) -> None:
    monkeypatch.delenv("AIRFLOW_CONN_NOT_THERE", raising=False)
    alerts = AlertsConfig(
        webhook_conn_id="not_there", email=("ops@example.com",), smtp_conn_id="not_there"
    ).model_dump()
    assert send(alerts, "s", {"text": "t"}, {}) == []


def test_deadline_alert_posts_to_the_webhook(monkeypatch) -> None:
    with webhook_receiver() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_ALERTS", hook.url)
        alerts = AlertsConfig(webhook_conn_id="test_alerts").model_dump()
        assert deadline_alert(alerts, "d", "scheduled__x", 1) == ["webhook"]
        ((_, body),) = hook.received
    assert (body["event"], body["run_id"], body["deadline_minutes"]) == ("deadline_missed", "scheduled__x", 1)
