"""The ``monitor:`` and ``alerts:`` sections of a pipeline file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from lakehouse_contract.naming import IDENTIFIER


class MonitorConfig(BaseModel):
    """Where the ETL monitor lives and how this pipeline is registered in it."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    enabled: bool = True
    conn_id: str = Field(default="lakehouse_monitor", min_length=1)  # a postgres connection
    schema_name: str = Field(default="etl_monitor", alias="schema", pattern=IDENTIFIER)
    project_code: str = Field(default="INV", min_length=1)
    process_load: str = Field(default="inventory_daily", min_length=1)
    frequency: str = Field(default="DAILY", min_length=1)
    task_sla_minutes: int = Field(default=30, ge=1)  # per task; a table may set its own sla_minutes


class AlertsConfig(BaseModel):
    """Failure and deadline notifications through Airflow notifiers. A channel whose connection
    is not defined is skipped with a warning (a laptop without SMTP still runs)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    email: tuple[str, ...] = ()  # recipients (SmtpNotifier through smtp_conn_id); empty: no e-mail
    smtp_conn_id: str = Field(default="smtp_default", min_length=1)
    webhook_conn_id: str | None = "lakehouse_alerts"  # an http connection (HttpNotifier POSTs JSON); null: none
    webhook_endpoint: str = ""  # path appended to the connection's URL
