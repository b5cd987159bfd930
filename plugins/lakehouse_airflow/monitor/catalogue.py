"""The pipeline as the monitor registers it: process row, task catalogue, parameters (pure data)."""

from __future__ import annotations

from dataclasses import dataclass

from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.describe.maintenance import maintenance_dag_id, maintenance_specs
from lakehouse_airflow.describe.parts import dag_parts
from lakehouse_airflow.describe.pipeline import pipeline_specs
from lakehouse_airflow.describe.tasks import SparkTask

STAGES = {"bronze": 1, "silver": 2, "gold": 3}  # later stages wait for the mandatory tasks of earlier ones


@dataclass(frozen=True)
class CatalogueTask:
    task_id: str
    task_name: str
    sequence_id: int
    stage: int
    layer: str
    table_name: str
    step: str | None  # the job's step result name (rows, dq score), None: no step result
    mandatory: bool
    sla_minutes: int


@dataclass(frozen=True)
class Parameter:
    name: str
    param_type: str  # DELTA_DATE | DELTA_ID | FLAG | SYSTEM
    table_name: str | None = None
    task_id: str | None = None  # DELTA_DATE: the task whose DONE advances it to the task's start time
    text_value: str | None = None
    flag_value: bool | None = None


def is_maintenance(cfg: PipelineConfig, dag_id: str) -> bool:
    return cfg.maintenance.enabled and dag_id == maintenance_dag_id(cfg)


def catalogue(cfg: PipelineConfig, dag_id: str | None = None) -> list[CatalogueTask]:
    """One entry per task of the pipeline's DAG (its CDC DAG, its maintenance DAG), in run order."""
    if dag_id is not None and is_maintenance(cfg, dag_id):
        return [
            CatalogueTask(spec.full_id, f"maintenance {spec.task_id}", seq, 1, "maintenance", spec.task_id,
                          "maintain", False, cfg.monitor.task_sla_minutes)
            for seq, spec in enumerate(maintenance_specs(cfg), start=1)
        ]  # fmt: skip
    parts = {part.dag_id: part.specs for part in dag_parts(cfg)}  # the main DAG, the CDC and hourly DAGs
    specs = parts.get(dag_id or cfg.dag_id)
    entries = []
    for seq, spec in enumerate(specs if specs is not None else pipeline_specs(cfg), start=1):
        layer, table = spec.layer, spec.table
        settings = cfg.tables.get(table)
        mandatory = settings.mandatory if settings else True
        sla = (settings.sla_minutes if settings else None) or cfg.monitor.task_sla_minutes
        step = spec.spec.step if isinstance(spec, SparkTask) else None
        entries.append(
            CatalogueTask(
                task_id=spec.full_id,
                task_name=f"{layer} {spec.task_id} {table}" if layer == "bronze" else f"{layer} {table}",
                sequence_id=seq,
                stage=STAGES[layer],
                layer=layer,
                table_name=table,
                step=step,
                mandatory=mandatory,
                sla_minutes=sla,
            )
        )
    return entries


def parameters(cfg: PipelineConfig) -> list[Parameter]:
    """Per table: the last successful bronze load (DELTA_DATE); the run sequence (DELTA_ID); the
    source system (SYSTEM); whether the last run was a bulk reload (FLAG)."""
    params = [
        Parameter(f"{t.name}_last_load", "DELTA_DATE", t.name, f"{t.name}.write_bronze") for t in cfg.ordered_tables()
    ]
    params += [
        Parameter("run_sequence", "DELTA_ID"),
        Parameter("source_system", "SYSTEM", text_value=cfg.source.system),
        Parameter("bulk_reload", "FLAG", flag_value=False),
    ]
    return params
