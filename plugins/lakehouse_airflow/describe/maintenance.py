"""The maintenance DAG's tasks (``<dag_id>_maintenance``): one ``maintain`` job per source table
(its bronze, silver and quarantine tables), one for the gold models, one for the control tables."""

from __future__ import annotations

from lakehouse_airflow.config.pipeline import PipelineConfig
from lakehouse_airflow.describe.pipeline import location, with_storage
from lakehouse_airflow.describe.tasks import SparkTask
from lakehouse_contract import naming
from lakehouse_contract.run import BASIC_RUN
from lakehouse_contract.specs import MaintainSpec

GROUP = "maintenance"


def maintenance_dag_id(cfg: PipelineConfig) -> str:
    return f"{cfg.dag_id}_maintenance"


def _task(cfg: PipelineConfig, name: str, tables: list[naming.TableName], zorder: tuple[str, ...] = ()) -> SparkTask:
    spec = MaintainSpec(dag_id=maintenance_dag_id(cfg), task_id=f"{GROUP}.{name}", table=name,
                        location=location(cfg), tables=tuple(str(t) for t in tables), zorder=zorder,
                        retention_hours=cfg.maintenance.retention_hours)  # fmt: skip
    return SparkTask(group=GROUP, task_id=name, layer="maintenance", table=name, step="maintain", spec=spec,
                     run_context=BASIC_RUN)  # fmt: skip


def maintenance_specs(cfg: PipelineConfig) -> list[SparkTask]:
    """Per source table, then the gold models, then the control tables (independent tasks)."""
    schemas = location(cfg).schemas
    specs = [
        _task(
            cfg, t.name, naming.source_tables(schemas, t.name, t.silver.enabled, t.silver.history == "scd2"), t.zorder
        )
        for t in cfg.ordered_tables()
    ]
    if cfg.gold.models:
        specs.append(_task(cfg, "gold_models", [naming.gold(schemas, m) for m in cfg.gold.models]))
    specs.append(_task(cfg, "control_tables", naming.control_tables(schemas, cfg.lakehouse.audit_table)))
    return with_storage(cfg, specs)
