"""Run context of a job: its typed spec (what the config decided) and the run flags (what Airflow,
or a native Databricks run's clock, knows only at run time). Locations come from the contract."""

from __future__ import annotations

import argparse
import datetime as dt
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar
from zoneinfo import ZoneInfo

from lakehouse_contract import layout, run
from lakehouse_contract.naming import Location, Schemas
from lakehouse_contract.serial import SpecError
from lakehouse_contract.specs import SPEC_FLAG, JobSpec, parse_spec
from spark_jobs.runtime.errors import JobError
from spark_jobs.runtime.schedule import DailySchedule, trigger_time
from spark_jobs.storage.paths import local_path
from spark_jobs.storage.tables import TableLocation

S = TypeVar("S", bound=JobSpec)


@dataclass(frozen=True)
class RunContext:
    spec: JobSpec
    run_id: str
    try_number: int
    logical_date: dt.date
    interval_start: str = ""  # the run's data interval (ISO, with zone); empty: none given
    interval_end: str = ""
    mode: str = "incremental"  # the run's params.mode
    upstream_states: str = ""  # audit: step=state,...
    upstream_error: str = ""  # audit: validate_connection's error (XCom)
    schedule: DailySchedule | None = None  # a native Databricks run's clock

    @property
    def dag_id(self) -> str:
        return self.spec.dag_id

    @property
    def task_id(self) -> str:
        return self.spec.task_id

    @property
    def table(self) -> str:
        return self.spec.table

    @property
    def location(self) -> Location:
        return self.spec.location

    @property
    def schemas(self) -> Schemas:
        return self.spec.location.schemas

    @property
    def root(self) -> str:
        """The lakehouse root as a path on this machine (``/Volumes`` under the emulator's mount)."""
        return local_path(self.spec.location.root)

    @property
    def tables(self) -> TableLocation:
        return TableLocation(self.root, self.spec.location.catalog)

    @property
    def bronze_schema(self) -> str:
        return self.schemas.bronze

    @property
    def silver_schema(self) -> str:
        return self.schemas.silver

    @property
    def gold_schema(self) -> str:
        return self.schemas.gold

    @property
    def run_key(self) -> str:
        return layout.run_key(self.run_id)

    def _interval_start(self) -> dt.datetime:
        if not self.interval_start and self.schedule is not None:  # a native Databricks run: the schedule's
            return self.schedule.interval_for(self.logical_date)[0]
        if not self.interval_start:
            raise JobError("an hourly table's run needs its data interval (--interval-start)")
        start = dt.datetime.fromisoformat(self.interval_start)
        if start.tzinfo is None:
            raise JobError(f"data interval start {self.interval_start!r} has no time zone")
        return start

    @property
    def slice_start(self) -> dt.datetime | None:
        """An hourly table's bronze run: its data interval's start (UTC, naive), the hour it owns
        in its day's slice. None for a daily table."""
        if not getattr(self.spec, "hourly", False):
            return None
        return self._interval_start().astimezone(dt.UTC).replace(tzinfo=None)

    @property
    def slice_date(self) -> dt.date:
        """The ``_logical_date`` of the bronze slice the run writes or reads: the logical date, or for
        an hourly table the calendar day (in the pipeline's zone) its interval starts on -- the same
        for a scheduled and a manual run of that interval, so an hour always lands in one day and
        the daily silver of that day reads it."""
        if not getattr(self.spec, "hourly", False):
            return self.logical_date
        return self._interval_start().astimezone(ZoneInfo(getattr(self.spec, "day_zone", "UTC"))).date()

    def landing_path(self) -> str:
        return layout.landing_dir(self.root, self.table, self.slice_date, self.slice_start)

    def deletes_path(self) -> str:
        return layout.deleted_keys_dir(self.root, self.table, self.slice_date, self.slice_start)

    def result_path(self, step: str) -> str:
        return layout.step_result_path(self.root, self.dag_id, self.run_id, self.table, step)

    def correlation(self) -> dict[str, object]:
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "task_id": self.task_id,
            "try_number": self.try_number,
            "table": self.table,
        }


def run_parser(prog: str) -> argparse.ArgumentParser:
    """``--spec`` (inline JSON or a file) and the run-context flags of lakehouse_contract.run."""
    p = argparse.ArgumentParser(prog=prog)
    p.add_argument(SPEC_FLAG, required=True, help="the job's spec: inline JSON, or a path to a JSON file")
    p.add_argument(run.RUN_ID, required=True)
    p.add_argument(run.TRY_NUMBER, type=int, default=1)
    p.add_argument(run.LOGICAL_DATE, default="", help="YYYY-MM-DD; empty: derived from --trigger-time and --schedule")
    p.add_argument(run.INTERVAL_START, default="", help="the run's data_interval_start (ISO, with zone)")
    p.add_argument(run.INTERVAL_END, default="", help="the run's data_interval_end (ISO, with zone)")
    p.add_argument(run.MODE, default="incremental", help="the run's params.mode")
    p.add_argument(run.UPSTREAM_STATES, default="", help="task=state,... as Airflow saw them")
    p.add_argument(run.UPSTREAM_ERROR, default="", help="error reported by validate_connection")
    p.add_argument(run.SCHEDULE, default="", help="a native run's daily cron, e.g. '0 2 * * *'")
    p.add_argument(run.SCHEDULE_TIMEZONE, default="UTC")
    p.add_argument(run.TRIGGER_TIME, default="", help="epoch ms of the native job run's trigger")
    return p


def read_spec(value: str) -> JobSpec:
    text = value if value.lstrip().startswith("{") else Path(local_path(value)).read_text()
    try:
        return parse_spec(text)
    except SpecError as exc:
        raise JobError(f"invalid job spec: {exc}") from None


def _logical_date(text: str, schedule: DailySchedule | None, trigger: str) -> dt.date:
    text = (text or "").strip()
    if text:
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            raise JobError(f"{run.LOGICAL_DATE} {text!r} is not a date (YYYY-MM-DD)") from None
    if schedule is None or not trigger:
        raise JobError(f"{run.LOGICAL_DATE} is empty and no {run.SCHEDULE}/{run.TRIGGER_TIME} to derive it from")
    return schedule.logical_date_at(trigger_time(trigger))


def _blank(value: str) -> str:
    return "" if value.strip() in ("", "None") else value.strip()


def context_from(argv: list[str], kind: type[S]) -> tuple[RunContext, S]:
    """Parse a job's command line; the spec must be of ``kind``."""
    args = run_parser(kind.job).parse_args(argv)
    spec = read_spec(args.spec)
    if not isinstance(spec, kind):
        raise JobError(f"job {kind.job} got a {spec.job} spec")
    schedule = DailySchedule.parse(args.schedule, args.schedule_timezone) if args.schedule else None
    ctx = RunContext(
        spec=spec,
        run_id=args.run_id,
        try_number=args.try_number,
        logical_date=_logical_date(args.logical_date, schedule, args.trigger_time),
        interval_start=_blank(args.interval_start),
        interval_end=_blank(args.interval_end),
        mode=args.mode or "incremental",
        upstream_states=args.upstream_states,
        upstream_error=_blank(args.upstream_error),
        schedule=schedule,
    )
    return ctx, spec
