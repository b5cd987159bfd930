"""A pipeline's DAGs by cadence: the main DAG and, when tables have ``cadence: cdc`` or ``cadence:
hourly``, ``<dag_id>_cdc`` and ``<dag_id>_hourly``.

The CDC DAG holds the CDC tables' bronze groups and silver tasks, on its own short schedule
(``cdc.schedule``). The hourly DAG holds the hourly tables' bronze groups (``hourly.schedule``):
each run loads one hourly slice. The main DAG keeps every other task (the hourly tables' silver
too) and the gold models. Where a task of it reads what another DAG writes -- a gold model or a
foreign-key check reading a CDC table's silver, an hourly table's silver reading its bronze -- it
waits on one task instead: ``<silver schema>.cdc_caught_up`` / ``<bronze schema>.hourly_landed``,
which succeeds once a run of that DAG whose data interval ends at or after the main run's has
committed each of those tables (their Airflow asset events).
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from lakehouse_airflow.config.pipeline import PipelineConfig
from lakehouse_airflow.describe.pipeline import pipeline_specs
from lakehouse_airflow.describe.tasks import SourceCheckTask, SparkTask, TaskSpec
from lakehouse_contract.specs import JobSpec

CDC_WAIT_TASK = "cdc_caught_up"
HOURLY_WAIT_TASK = "hourly_landed"


def cdc_dag_id(cfg: PipelineConfig) -> str:
    return f"{cfg.dag_id}_cdc"


def hourly_dag_id(cfg: PipelineConfig) -> str:
    return f"{cfg.dag_id}_hourly"


@dataclass(frozen=True)
class Wait:
    """A main-DAG task standing in for the tasks of another DAG that its tasks read from."""

    task: str  # its full task id
    dag_id: str  # the DAG that commits the tables
    layer: str  # whose commits it waits for: "silver" (CDC tables) or "bronze" (hourly tables)
    tables: tuple[str, ...]
    minutes: int  # how long it waits before failing
    committers: tuple[JobSpec, ...]  # the other DAG's jobs whose commits it waits for (their assets)


@dataclass(frozen=True)
class DagPart:
    dag_id: str
    cadence: str  # daily | hourly | cdc
    specs: list[TaskSpec]
    tables: tuple[str, ...]  # the source tables it loads (its `tables` param offers these)
    waits: tuple[Wait, ...] = ()  # the main DAG's waits on the other parts (none in the others)


def _moved(spec: TaskSpec, dag_id: str, keep: set[str]) -> TaskSpec:
    """A spec of another DAG: its jobs record under that DAG's id; upstream outside it dropped."""
    upstream = tuple(u for u in spec.upstream if u in keep)
    if isinstance(spec, SourceCheckTask):
        return replace(spec, check=replace(spec.check, dag_id=dag_id), upstream=upstream)
    return replace(spec, spec=replace(spec.spec, dag_id=dag_id), upstream=upstream)


def dag_parts(cfg: PipelineConfig) -> list[DagPart]:
    """The main part (always), then the CDC part and the hourly part (when tables have them)."""
    specs = pipeline_specs(cfg)
    cdc = {t.name for t in cfg.cdc_tables()}
    hourly = {t.name for t in cfg.hourly_tables()}
    others = [
        # (cadence, dag id, the specs it takes, the layer the main DAG waits for, wait task, minutes)
        ("cdc", cdc_dag_id(cfg), [s for s in specs if s.layer in ("bronze", "silver") and s.table in cdc],
         "silver", f"{cfg.lakehouse.silver_schema}.{CDC_WAIT_TASK}", cfg.cdc.wait_minutes, cfg.cdc_tables()),
        ("hourly", hourly_dag_id(cfg), [s for s in specs if s.layer == "bronze" and s.table in hourly],
         "bronze", f"{cfg.lakehouse.bronze_schema}.{HOURLY_WAIT_TASK}", cfg.hourly.wait_minutes, cfg.hourly_tables()),
    ]  # fmt: skip
    moved: dict[str, str] = {}  # full id of a moved spec -> the wait task standing for it
    parts: dict[str, DagPart] = {}
    for cadence, dag_id, theirs, _, wait, _, tables in others:
        if theirs:
            ids = {s.full_id for s in theirs}
            moved |= dict.fromkeys(ids, wait)
            parts[dag_id] = DagPart(
                dag_id, cadence, [_moved(s, dag_id, ids) for s in theirs], tuple(t.name for t in tables)
            )
    table_of = {s.full_id: s.table for s in specs}
    waited: dict[str, dict[str, None]] = {}  # wait task -> the tables it waits for
    main: list[TaskSpec] = []
    for spec in (s for s in specs if s.full_id not in moved):
        upstream = []
        for up in spec.upstream:
            if up in moved:  # a task of another DAG: its wait task stands for it
                waited.setdefault(moved[up], {})[table_of[up]] = None
                up = moved[up]
            upstream.append(up)
        main.append(replace(spec, upstream=tuple(dict.fromkeys(upstream))))
    waits = []
    for _, dag_id, _, layer, wait, minutes, tables in others:
        if wait in waited:
            names = tuple(t.name for t in tables if t.name in waited[wait])
            committers = tuple(
                s.spec for s in parts[dag_id].specs
                if isinstance(s, SparkTask) and s.layer == layer and s.table in names and s.spec.commits()
            )  # fmt: skip
            waits.append(Wait(wait, dag_id, layer, names, minutes, committers))
    # the hourly tables' silver stays in the main DAG: its `tables` param offers them too
    offered = tuple(t.name for t in cfg.ordered_tables() if t.name not in cdc)
    return [DagPart(cfg.dag_id, "daily", main, offered, tuple(waits)), *parts.values()]
