"""Run context shared by every job: who runs (dag/run/task/try), which table, where the lake is."""

from __future__ import annotations

import argparse
import datetime as dt
import re
from dataclasses import dataclass
from pathlib import Path

from spark_jobs.lib.errors import JobError
from spark_jobs.lib.schedule import DailySchedule, trigger_time
from spark_jobs.lib.storage import local_path
from spark_jobs.lib.tables import TableLocation


@dataclass(frozen=True)
class RunContext:
    dag_id: str
    run_id: str
    task_id: str
    try_number: int
    logical_date: dt.date
    table: str
    lakehouse_root: str
    bronze_schema: str
    silver_schema: str = "inventory_silver"
    gold_schema: str = "inventory_gold"
    catalog: str | None = None  # set: tables are <catalog>.<schema>.<table> (Unity Catalog)

    @property
    def tables(self) -> TableLocation:
        return TableLocation(self.lakehouse_root, self.catalog)

    @property
    def run_key(self) -> str:
        """File-system-safe form of the run id (run ids contain ':' and '+')."""
        return re.sub(r"[^A-Za-z0-9._-]", "_", self.run_id)

    def landing_path(self) -> str:
        return str(Path(self.lakehouse_root) / "landing" / self.table / f"logical_date={self.logical_date}")

    def results_dir(self) -> Path:
        return Path(self.lakehouse_root) / "_control" / "step_results" / self.dag_id / self.run_key / self.table

    def correlation(self) -> dict[str, object]:
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "try_number": self.try_number,
            "table": self.table,
        }


def add_context_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dag-id", required=True)
    parser.add_argument("--run-id", required=True)
    parser.add_argument("--task-id", required=True)
    parser.add_argument("--try-number", type=int, default=1)
    parser.add_argument(
        "--logical-date",
        required=True,
        help="the run's logical date (YYYY-MM-DD); empty: derived from --trigger-time and --schedule",
    )
    parser.add_argument("--table", required=True)
    parser.add_argument("--lakehouse-root", required=True)
    parser.add_argument("--bronze-schema", default="inventory_bronze")
    parser.add_argument("--silver-schema", default="inventory_silver")
    parser.add_argument("--gold-schema", default="inventory_gold")
    parser.add_argument("--catalog", default="", help="tables by name in this catalog (default: path-based)")
    # the clock of a natively scheduled Databricks job (see spark_jobs.lib.schedule)
    parser.add_argument("--schedule", default="", help="the pipeline's daily cron, e.g. '0 2 * * *'")
    parser.add_argument("--schedule-timezone", default="UTC")
    parser.add_argument("--trigger-time", default="", help="epoch ms of the job run's trigger")


def job_parser(prog: str) -> argparse.ArgumentParser:
    """An argument parser for a table job, with the run-context arguments already declared."""
    parser = argparse.ArgumentParser(prog=prog)
    add_context_args(parser)
    return parser


def native_schedule(args: argparse.Namespace) -> DailySchedule | None:
    """The schedule a native Databricks run passes (None under Airflow, which hands out dates)."""
    return DailySchedule.parse(args.schedule, args.schedule_timezone) if args.schedule else None


def resolve_logical_date(args: argparse.Namespace) -> dt.date:
    text = str(args.logical_date or "").strip()
    if text:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise JobError(f"--logical-date {text!r} is not a date (YYYY-MM-DD)") from None
    schedule = native_schedule(args)
    if schedule is None or not args.trigger_time:
        raise JobError("--logical-date is empty and no --schedule/--trigger-time to derive it from")
    return schedule.logical_date_at(trigger_time(args.trigger_time))


def context_from(args: argparse.Namespace) -> RunContext:
    return RunContext(
        dag_id=args.dag_id,
        run_id=args.run_id,
        task_id=args.task_id,
        try_number=args.try_number,
        logical_date=resolve_logical_date(args),
        table=args.table,
        lakehouse_root=local_path(args.lakehouse_root),
        bronze_schema=args.bronze_schema,
        silver_schema=args.silver_schema,
        gold_schema=args.gold_schema,
        catalog=args.catalog or None,
    )
