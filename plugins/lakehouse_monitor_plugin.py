"""Airflow plugin of the lakehouse: the ETL monitor listener and the Prometheus /metrics endpoint."""

from __future__ import annotations

from airflow.plugins_manager import AirflowPlugin
from fastapi import FastAPI, Response
from prometheus_client import CONTENT_TYPE_LATEST

from lakehouse_airflow.monitor import listener
from lakehouse_airflow.monitor.metrics import render
from lakehouse_airflow.monitor.monitored import monitor_stores, pipelines

metrics_app = FastAPI(title="Lakehouse metrics", docs_url=None, redoc_url=None, openapi_url=None)


@metrics_app.get("/")
def metrics() -> Response:
    """Prometheus text format; values are read from the ETL monitor (and the CDC slots from their
    sources) on every scrape."""
    return Response(render(monitor_stores(), pipelines().values()), media_type=CONTENT_TYPE_LATEST)


class LakehousePlugin(AirflowPlugin):
    name = "lakehouse"
    listeners = [listener]
    fastapi_apps = [{"app": metrics_app, "url_prefix": "/metrics", "name": "Lakehouse metrics"}]
