"""The run clock of a job scheduled natively on Databricks (no Airflow to hand out dates).

Airflow gives each run its logical date (``ds``) and data interval. A Databricks job run only
knows when it was triggered, so the exported job passes the pipeline's daily schedule and the
trigger time, and every task derives the same clock from them, the way Airflow's scheduler does
for a scheduled run of a ``CronDataIntervalTimetable``:

- the run's data interval is the latest *complete* schedule interval at the trigger time
  (``[previous tick, last tick]``);
- its logical date is the UTC date of the interval's start (Airflow's ``ds`` for that run);
- a given logical date (a backfill or a rerun of a date) maps back to exactly that interval, so
  rerunning a date re-reads the same window and replaces the same bronze slice.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from spark_jobs.runtime.errors import JobError

DAILY_CRON = re.compile(r"^(\d{1,2}) (\d{1,2}) \* \* \*$")


@dataclass(frozen=True)
class DailySchedule:
    """``M H * * *`` in a time zone: one tick per local day."""

    hour: int
    minute: int
    zone: ZoneInfo

    @classmethod
    def parse(cls, cron: str, timezone: str) -> DailySchedule:
        match = DAILY_CRON.match(cron.strip())
        if not match or int(match[2]) > 23 or int(match[1]) > 59:
            raise JobError(f"schedule {cron!r}: native runs support daily schedules 'M H * * *' only")
        try:
            zone = ZoneInfo(timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise JobError(f"schedule time zone {timezone!r} is unknown") from None
        return cls(hour=int(match[2]), minute=int(match[1]), zone=zone)

    def tick(self, local_day: dt.date) -> dt.datetime:
        """The tick on ``local_day`` (aware, in UTC)."""
        local = dt.datetime.combine(local_day, dt.time(self.hour, self.minute), self.zone)
        return local.astimezone(dt.UTC)

    def interval_for(self, logical_date: dt.date) -> tuple[dt.datetime, dt.datetime]:
        """The interval whose start falls on ``logical_date`` (UTC), as aware UTC datetimes."""
        for offset in (-1, 0, 1):
            start = self.tick(logical_date + dt.timedelta(days=offset))
            if start.date() == logical_date:
                local_day = start.astimezone(self.zone).date()
                return start, self.tick(local_day + dt.timedelta(days=1))
        raise JobError(f"no tick of the schedule starts on {logical_date}")  # pragma: no cover

    def logical_date_at(self, trigger: dt.datetime) -> dt.date:
        """Logical date of the latest interval complete at ``trigger`` (aware)."""
        local_day = trigger.astimezone(self.zone).date()
        ticks = [self.tick(local_day + dt.timedelta(days=d)) for d in (-2, -1, 0, 1)]
        ends = [i for i in range(1, len(ticks)) if ticks[i] <= trigger]
        return ticks[ends[-1] - 1].date()


def trigger_time(text: str) -> dt.datetime:
    """``{{job.trigger.time.timestamp_ms}}`` (epoch milliseconds) as an aware UTC datetime."""
    if not text.strip().isdigit():
        raise JobError(f"trigger time {text!r} is not epoch milliseconds")
    return dt.datetime.fromtimestamp(int(text) / 1000, dt.UTC)
