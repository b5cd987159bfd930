"""Alerts without services: the DAG's failure notifier and run deadline from config and
environment; the notifier POSTs to a real local HTTP endpoint through the http provider."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from types import SimpleNamespace

from lakehouse_airflow.alerts import FailureNotifier, deadline_missed, send
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.dag_builder import build_dag
from lakehouse_airflow.environments import load_environments
from lakehouse_airflow.monitor.settings import AlertsConfig
from webhook import webhook_receiver

ROOT = Path(__file__).resolve().parents[1]
CFG = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")


def test_every_task_alerts_on_failure_and_the_run_has_the_environments_deadline(monkeypatch) -> None:  # noqa: ANN001
    dag = build_dag(CFG)
    for task in dag.tasks:
        (notifier,) = task.on_failure_callback
        assert isinstance(notifier, FailureNotifier) and notifier.alerts["webhook_conn_id"] == "lakehouse_alerts"
    envs = load_environments()
    assert envs["local"].run_deadline_minutes is None and not dag.deadline  # laptops: `dags test` (see README)
    assert (envs["prod"].run_deadline_minutes, envs["dev"].run_deadline_minutes) == (120, 180)  # the job's 2 h
    monkeypatch.setenv("LAKEHOUSE_ENV", "prod")
    (deadline,) = build_dag(CFG).deadline
    assert deadline.interval == dt.timedelta(minutes=120)
    assert deadline.callback.path == "lakehouse_airflow.alerts.deadline_missed"
    assert deadline.callback.kwargs["minutes"] == 120
    monkeypatch.setenv("LAKEHOUSE_ENV", "dev")
    assert build_dag(CFG).deadline[0].interval == dt.timedelta(minutes=180)


def test_no_channels_no_callback_and_no_deadline_when_unset(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    envs = tmp_path / "envs.yaml"
    envs.write_text("environments:\n  local:\n    backend: local\n    run_deadline_minutes: null\n")
    monkeypatch.setenv("LAKEHOUSE_ENVIRONMENTS_FILE", str(envs))
    cfg = CFG.model_copy(update={"alerts": AlertsConfig(webhook_conn_id=None)})
    dag = build_dag(cfg)
    assert not dag.deadline and all(not t.on_failure_callback for t in dag.tasks)


def _context(error: Exception) -> dict:
    ti = SimpleNamespace(dag_id="d", run_id="manual__1", task_id="orders.extract", try_number=2, log_url="http://x/log")
    return {"ti": ti, "exception": error, "logical_date": dt.datetime(2026, 11, 20, tzinfo=dt.UTC)}


def test_failure_notifier_posts_the_failure_to_the_webhook_connection(monkeypatch) -> None:  # noqa: ANN001
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


def test_channels_without_a_connection_are_skipped(monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.delenv("AIRFLOW_CONN_NOT_THERE", raising=False)
    alerts = AlertsConfig(
        webhook_conn_id="not_there", email=("ops@example.com",), smtp_conn_id="not_there"
    ).model_dump()
    assert send(alerts, "s", {"text": "t"}, {}) == []


def test_deadline_callback_alerts_even_without_a_monitored_dag(monkeypatch) -> None:  # noqa: ANN001
    import asyncio

    with webhook_receiver() as hook:
        monkeypatch.setenv("AIRFLOW_CONN_TEST_ALERTS", hook.url)
        alerts = AlertsConfig(webhook_conn_id="test_alerts").model_dump(mode="json")
        context = {"dag_run": {"dag_id": "not_a_pipeline", "dag_run_id": "scheduled__x"}, "deadline": {}}
        assert asyncio.run(deadline_missed(1, alerts, context)) == ["webhook"]
        ((_, body),) = hook.received
    assert (body["event"], body["run_id"], body["deadline_minutes"]) == ("deadline_missed", "scheduled__x", 1)
