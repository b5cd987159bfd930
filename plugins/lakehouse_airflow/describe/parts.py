"""A pipeline's DAGs by cadence: the main DAG and, when tables have ``cadence: cdc``, ``<dag_id>_cdc``.

The CDC DAG holds the CDC tables' bronze groups and silver tasks, on its own short schedule
(``cdc.schedule``). The main DAG keeps every other table, and its gold models; where a task of it
reads a CDC table's silver (a gold model, a foreign-key check), it waits on one task instead,
``<silver schema>.cdc_caught_up``, which succeeds once a CDC run whose data interval ends at or
after the main run's has committed each of those silver tables (their Airflow asset events).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lakehouse_airflow.config.pipeline import PipelineConfig
from lakehouse_airflow.describe.pipeline import pipeline_specs
from lakehouse_airflow.describe.tasks import SourceCheckTask, TaskSpec

CDC_WAIT_TASK = "cdc_caught_up"


def cdc_dag_id(cfg: PipelineConfig) -> str:
    return f"{cfg.dag_id}_cdc"


@dataclass(frozen=True)
class DagPart:
    dag_id: str
    cadence: str  # daily | cdc
    specs: list[TaskSpec]
    tables: tuple[str, ...]  # the source tables it loads (its `tables` param offers these)
    waits_for: tuple[str, ...] = ()  # CDC tables whose silver it reads from the CDC DAG
    wait_task: str = ""  # full id of the task that waits for them ("" when none)


def _moved(spec: TaskSpec, dag_id: str, keep: set[str]) -> TaskSpec:
    """A spec of the CDC DAG: its jobs record under that DAG's id; upstream outside it dropped."""
    upstream = tuple(u for u in spec.upstream if u in keep)
    if isinstance(spec, SourceCheckTask):
        return replace(spec, check=replace(spec.check, dag_id=dag_id), upstream=upstream)
    return replace(spec, spec=replace(spec.spec, dag_id=dag_id), upstream=upstream)


def dag_parts(cfg: PipelineConfig) -> list[DagPart]:
    """The main part (always) and the CDC part (when a table has ``cadence: cdc``)."""
    specs = pipeline_specs(cfg)
    cdc = {t.name for t in cfg.cdc_tables()}
    if not cdc:
        return [DagPart(cfg.dag_id, "daily", specs, tuple(t.name for t in cfg.ordered_tables()))]
    ours = [s for s in specs if s.layer in ("bronze", "silver") and s.table in cdc]
    ids = {s.full_id for s in ours}
    wait = f"{cfg.lakehouse.silver_schema}.{CDC_WAIT_TASK}"
    waited: dict[str, None] = {}
    main: list[TaskSpec] = []
    for spec in (s for s in specs if s.full_id not in ids):
        upstream = []
        for up in spec.upstream:
            if up in ids:  # a CDC table's silver task: the wait task stands for it
                waited[up.rsplit(".", 1)[-1]] = None
                up = wait
            upstream.append(up)
        main.append(replace(spec, upstream=tuple(dict.fromkeys(upstream))))
    daily = tuple(t.name for t in cfg.ordered_tables() if t.name not in cdc)
    cdc_part = DagPart(
        cdc_dag_id(cfg), "cdc", [_moved(s, cdc_dag_id(cfg), ids) for s in ours], tuple(t.name for t in cfg.cdc_tables())
    )
    waits = tuple(t for t in (x.name for x in cfg.cdc_tables()) if t in waited)
    return [DagPart(cfg.dag_id, "daily", main, daily, waits, wait if waits else ""), cdc_part]
