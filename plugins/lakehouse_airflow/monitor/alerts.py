"""Alerts: task-failure notifications and run-deadline breaches, through the providers' notifiers
(HttpNotifier for the webhook, SmtpNotifier for e-mail), configured by connection.

The deadline is checked by the ETL monitor's listener on every task event of a run (and when the
run ends), not with Airflow's ``DeadlineAlert``: in Airflow 3.3.2 a DAG with a ``DAGRUN_QUEUED_AT``
deadline cannot have its tasks cleared (``clear_task_instances`` raises ``TypeError``) and
``airflow dags test`` fails at the end of a successful run."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from airflow.sdk import BaseHook, BaseNotifier

from lakehouse_airflow.config.monitor import AlertsConfig

log = logging.getLogger(__name__)
ERROR_LIMIT = 1000


def redact_text(text: str) -> str:
    """``text`` with every secret Airflow knows of masked."""
    try:
        from airflow.sdk.log import redact
    except ImportError:  # pragma: no cover - older SDKs
        return text
    return str(redact(text))


def _defined(conn_id: str) -> bool:
    try:
        BaseHook.get_connection(conn_id)
    except Exception:  # AirflowNotFoundException, or no way to reach the connections
        return False
    return True


def send(alerts: Mapping[str, Any], subject: str, payload: dict[str, Any], context: Any) -> list[str]:
    """Send ``payload`` on every configured channel whose connection exists; the channels used."""
    from airflow.providers.http.notifications.http import HttpNotifier
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    sent = []
    webhook = alerts.get("webhook_conn_id")
    if webhook and _defined(webhook):
        HttpNotifier(http_conn_id=webhook, endpoint=alerts.get("webhook_endpoint") or None, json=payload).notify(
            context
        )
        sent.append("webhook")
    elif webhook:
        log.warning("alert webhook skipped: connection %r is not defined", webhook)
    if alerts.get("email"):
        if _defined(alerts["smtp_conn_id"]):
            lines = "".join(f"<tr><td>{k}</td><td>{v}</td></tr>" for k, v in payload.items())
            SmtpNotifier(
                to=list(alerts["email"]), smtp_conn_id=alerts["smtp_conn_id"], subject=subject,
                html_content=f"<table>{lines}</table>",
            ).notify(context)  # fmt: skip
            sent.append("email")
        else:
            log.warning("alert e-mail skipped: connection %r is not defined", alerts["smtp_conn_id"])
    return sent


class FailureNotifier(BaseNotifier):
    """``on_failure_callback`` of every task: one message per failed attempt (dag, run, task,
    try, error with secrets masked, log URL) on the pipeline's alert channels."""

    template_fields = ()

    def __init__(self, alerts: AlertsConfig) -> None:
        super().__init__()
        self.alerts = alerts.model_dump()

    def notify(self, context: Any) -> None:
        ti = context["ti"]
        error = context.get("exception")
        payload = {
            "event": "task_failed",
            "dag_id": ti.dag_id,
            "run_id": ti.run_id,
            "task_id": ti.task_id,
            "try_number": ti.try_number,
            "logical_date": str(context.get("logical_date") or ""),
            "error": redact_text(f"{type(error).__name__}: {error}")[:ERROR_LIMIT] if error else None,
            "log_url": getattr(ti, "log_url", None),
        }
        payload["text"] = f"{ti.dag_id}: task {ti.task_id} failed (try {ti.try_number}) in run {ti.run_id}"
        send(self.alerts, payload["text"], payload, context)


def deadline_alert(alerts: Mapping[str, Any], dag_id: str, run_id: str, minutes: int) -> list[str]:
    """Tell the alert channels that a run passed its deadline; the channels used."""
    text = f"{dag_id}: run {run_id} is still running {minutes} minutes after it started (deadline)"
    payload = {
        "event": "deadline_missed",
        "dag_id": dag_id,
        "run_id": run_id,
        "deadline_minutes": minutes,
        "text": text,
    }
    return send(alerts, text, payload, {})
