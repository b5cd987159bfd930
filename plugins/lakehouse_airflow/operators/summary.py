"""The run's final ``summary`` task: per-table outcome, rows and seconds, one run-summary row.

It runs whatever happened upstream (``all_done``) in Airflow itself, on either backend: states come
from Airflow, rows and seconds from the ETL monitor (which the listener filled from the jobs). It
fails when a table or gold model failed, so the run still ends failed and alerts fire.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.describe.pipeline import BRONZE_STEPS
from lakehouse_airflow.monitor.monitored import tracked
from lakehouse_airflow.monitor.text import table

SUMMARY_TASK_ID = "summary"
FAILED_STATES = {"failed", "upstream_failed"}


@dataclass(frozen=True)
class Line:
    layer: str  # "table" (bronze + silver of one source table) | "gold"
    name: str
    status: str  # SUCCESS | FAILED | SKIPPED | INCOMPLETE
    rows_read: int | None
    rows_written: int | None
    seconds: float | None


def _status(states: list[str | None]) -> str:
    if any(s in FAILED_STATES for s in states):
        return "FAILED"
    if states and all(s == "skipped" for s in states):
        return "SKIPPED"
    if all(s in ("success", "skipped") for s in states):
        return "SUCCESS"
    return "INCOMPLETE"


def _seconds(steps: Mapping[str, Mapping[str, Any]], task_ids: list[str]) -> float | None:
    spans = [
        (steps[t]["end_time"] - steps[t]["start_time"]).total_seconds()
        for t in task_ids
        if t in steps and steps[t].get("start_time") and steps[t].get("end_time")
    ]
    return round(sum(spans), 1) if spans else None


def summarize(
    cfg: PipelineConfig, states: Mapping[str, str | None], steps: Mapping[str, Mapping[str, Any]]
) -> list[Line]:
    """One line per source table (its bronze group and silver task) and per gold model."""
    silver, gold = cfg.lakehouse.silver_schema, cfg.lakehouse.gold_schema
    lines = []
    for t in cfg.ordered_tables():
        ids = [f"{t.name}.{s}" for s in BRONZE_STEPS] + ([f"{silver}.{t.name}"] if t.silver.enabled else [])
        if states and not any(i in states for i in ids):
            continue  # loaded by the pipeline's other DAG (cadence: cdc / hourly)
        lines.append(
            Line(
                "table", t.name, _status([states.get(i) for i in ids]),
                steps.get(f"{t.name}.extract", {}).get("rows_read"),
                steps.get(f"{t.name}.write_bronze", {}).get("rows_written"),
                _seconds(steps, ids),
            )
        )  # fmt: skip
    for model in cfg.gold.models:
        task_id = f"{gold}.{model}"
        if states and task_id not in states:
            continue
        step = steps.get(task_id, {})
        lines.append(
            Line(
                "gold",
                model,
                _status([states.get(task_id)]),
                None,
                step.get("rows_written"),
                _seconds(steps, [task_id]),
            )
        )
    return lines


def render(lines: list[Line]) -> str:
    rows = [(ln.layer, ln.name, ln.status, ln.rows_read, ln.rows_written, ln.seconds) for ln in lines]
    return table(["layer", "name", "status", "rows_read", "rows_written", "seconds"], rows)


def totals(lines: list[Line], started: dt.datetime | None, now: dt.datetime) -> dict[str, Any]:
    tables = [ln for ln in lines if ln.layer == "table" and ln.status != "SKIPPED"]
    return {
        "tables_processed": len(tables),
        "tables_succeeded": sum(ln.status == "SUCCESS" for ln in tables),
        "tables_failed": sum(ln.status == "FAILED" for ln in tables),
        "gold_failed": sum(ln.status == "FAILED" for ln in lines if ln.layer == "gold"),
        "total_rows": sum(ln.rows_written or 0 for ln in tables),
        "total_seconds": round((now - started).total_seconds(), 1) if started else None,
    }


class RunSummaryOperator(BaseOperator):
    """Prints the run's summary, records it in the monitor and fails when anything failed."""

    ui_color = "#e8f0fe"

    def __init__(self, *, cfg: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cfg = cfg

    def execute(self, context: Context) -> dict[str, Any]:
        ti = context["ti"]
        states = dict(ti.get_task_states(dag_id=ti.dag_id, run_ids=[ti.run_id]).get(ti.run_id, {}))
        states.pop(self.task_id, None)
        found = tracked(ti.dag_id)
        steps: dict[str, dict[str, Any]] = {}
        if found:
            store = found[1]
            columns, rows = store.query(
                "SELECT * FROM __SCHEMA__.processing_steps WHERE workflow_id = %s AND run_id = %s",
                (ti.dag_id, ti.run_id),
            )
            steps = {r[columns.index("task_id")]: dict(zip(columns, r, strict=True)) for r in rows}
        lines = summarize(self.cfg, states, steps)
        starts = [step["start_time"] for step in steps.values() if step.get("start_time")]
        started = min(starts) if starts else getattr(context["dag_run"], "start_date", None)
        summary = totals(lines, started, dt.datetime.now(dt.UTC))
        self.log.info("run summary of %s\n%s", ti.run_id, render(lines))
        self.log.info(
            "tables processed %(tables_processed)s, succeeded %(tables_succeeded)s, failed %(tables_failed)s; "
            "gold models failed %(gold_failed)s; rows written %(total_rows)s; seconds %(total_seconds)s",
            summary,
        )
        if found:
            found[1].write_summary(ti.dag_id, ti.run_id, ti.try_number, summary)
        failed = [f"{ln.layer} {ln.name}" for ln in lines if ln.status == "FAILED"]
        if failed:
            raise AirflowFailException(f"{len(failed)} failed in this run: {', '.join(failed)}")
        return summary
