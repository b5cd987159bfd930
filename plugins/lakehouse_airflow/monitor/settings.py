"""The ``monitor:`` section of a pipeline file."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

IDENTIFIER = r"^[a-z_][a-z0-9_]*$"


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
    # a run longer than this is marked as a deadline breach in the monitor (and alerted)
    run_deadline_minutes: int | None = Field(default=120, ge=1)
