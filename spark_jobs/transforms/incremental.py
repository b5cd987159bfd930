"""Incremental loads: the run's watermark window, the effective mode, deletes, latest versions.

Semantics (documented in the README):
- an incremental table's bronze keeps one slice per logical date (``_logical_date``); a rerun of
  that date replaces exactly its slice (``cadence: hourly``: one slice per hour, ``_slice_start``,
  inside its date's; a rerun of the hour replaces exactly that hour's slice);
- a slice holds the source rows with ``start <= watermark < end`` (the run's data interval in the
  source's time zone, started ``lookback_minutes`` earlier, and at the last committed mark when an
  interval never ran: see ``WatermarkWindow.extended``) plus tombstones (``_record_status = 'DELETED'``, key columns only) for keys
  that are live in bronze but gone from the source;
- the first load of a table (no bronze yet), ``mode=full`` and a rerun of a date first loaded in
  full load the whole source into the slice;
- silver takes, for every key of the slice, the newest version of that key across all of bronze
  (a tombstone always wins: keys are never reused), so the order in which dates are loaded does
  not change the result.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from functools import reduce
from zoneinfo import ZoneInfo

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse_contract.naming import CDC_LSN, CDC_SEQ, SLICE_START, SOURCE_FILE
from spark_jobs.runtime.errors import JobError

DELETED = "DELETED"
ACTIVE = "ACTIVE"


@dataclass(frozen=True)
class WatermarkWindow:
    """``start <= column < end`` as naive timestamps of the source's time zone."""

    start: dt.datetime
    end: dt.datetime

    @classmethod
    def from_interval(cls, start: str, end: str, source_timezone: str) -> WatermarkWindow:
        if start in ("", "None") or end in ("", "None"):
            raise JobError("an incremental load needs the run's data interval (the run has none)")
        zone = ZoneInfo(source_timezone)

        def local(text: str) -> dt.datetime:
            value = dt.datetime.fromisoformat(text)
            if value.tzinfo is None:
                raise JobError(f"data interval bound {text!r} has no time zone")
            return value.astimezone(zone).replace(tzinfo=None)

        window = cls(local(start), local(end))
        if window.start >= window.end:
            raise JobError(f"empty data interval {start} .. {end}")
        return window

    def extended(self, lookback: dt.timedelta, mark: dt.datetime | None) -> WatermarkWindow:
        """The window a run reads: ``lookback`` earlier (rows whose transaction committed after the
        previous run read their window), and from the last committed mark when that is before the
        window (a gap: an interval that never ran). Re-read rows are versions silver already
        resolves by key and watermark, so reading more never duplicates silver rows."""
        start = self.start - lookback
        if mark is not None and mark < self.start:
            start = min(start, mark)
        return WatermarkWindow(start, self.end)

    def predicate(self, column: str) -> str:
        """SQL for the source query (timestamps are formatted here, never taken from user text)."""
        fmt = "%Y-%m-%d %H:%M:%S.%f"
        return f"{column} >= TIMESTAMP '{self.start.strftime(fmt)}' AND {column} < TIMESTAMP '{self.end.strftime(fmt)}'"


def effective_mode(table_mode: str, requested: str, slice_modes: set[str], bronze_exists: bool) -> str:
    """``full`` or ``incremental`` for this run of the table.

    Full-mode tables are always full. An incremental table loads in full when asked to
    (``params.mode``), when it has no bronze yet, or when this date's slice was loaded in full
    before (so a rerun reproduces the same slice)."""
    if requested not in ("incremental", "full"):
        raise JobError(f"unknown mode {requested!r} (expected incremental or full)")
    if table_mode == "full" or requested == "full" or not bronze_exists or "full" in slice_modes:
        return "full"
    return "incremental"


def deletes_due(policy: str, mode: str, logical_date: dt.date) -> bool:
    """Whether this run compares source keys with bronze: always in full mode; else per policy."""
    if mode == "full":
        return True
    return policy == "every_run" or (policy == "weekly" and logical_date.isoweekday() == 7)


def slice_timestamp(slice_start: dt.datetime) -> Column:
    """An hourly slice's start (naive UTC) as a timestamp (the jobs' sessions run in UTC)."""
    return F.lit(slice_start.isoformat(sep=" ")).cast("timestamp")


def in_slice(logical_date: dt.date, slice_start: dt.datetime | None = None) -> Column:
    """The rows of a run's bronze slice: its date's (daily), or its hour's in its date's (hourly;
    never NULL: rows loaded before the table became hourly belong to no hour)."""
    same_date = F.col("_logical_date") == F.lit(logical_date)
    if slice_start is None:
        return same_date
    return same_date & F.col(SLICE_START).eqNullSafe(slice_timestamp(slice_start))


def slice_keys(logical_date: dt.date, slice_start: dt.datetime | None = None) -> dict[str, str]:
    """The slice as ``column = value`` pairs (``replace_slice``; timestamps in the session's UTC)."""
    where = {"_logical_date": str(logical_date)}
    if slice_start is not None:
        where[SLICE_START] = slice_start.isoformat(sep=" ")
    return where


def live_keys(
    bronze: DataFrame, keys: list[str], logical_date: dt.date, slice_start: dt.datetime | None = None
) -> DataFrame:
    """Keys whose newest bronze record outside the run's slice is not a tombstone. A NULL key
    is no key: it is never judged deleted (it would come back as a tombstone every run)."""
    known = reduce(lambda a, b: a & b, [F.col(k).isNotNull() for k in keys])
    others = bronze.where(~in_slice(logical_date, slice_start) & known)
    deleted = F.max(F.when(F.col("_record_status") == DELETED, 1).otherwise(0))
    return others.groupBy(*keys).agg(deleted.alias("_gone")).where("_gone = 0").select(*keys)


def tombstones(deleted_keys: DataFrame, like: DataFrame) -> DataFrame:
    """Rows shaped like ``like`` carrying only the deleted keys (other columns NULL)."""
    keys = set(deleted_keys.columns)
    return deleted_keys.select(
        *[F.col(f.name) if f.name in keys else F.lit(None).cast(f.dataType).alias(f.name) for f in like.schema.fields]
    )


def latest_versions(
    bronze: DataFrame, keys: tuple[str, ...], logical_date: dt.date, watermark: str, *, only_slice: bool = False
) -> DataFrame:
    """For each key in ``logical_date``'s slice, its newest record in all of bronze: a tombstone
    first, then the highest watermark, then the latest slice and load. Rows of the slice with a
    NULL in a key column are no key's version: each is kept as it is, for the key's
    ``<col>_not_null`` rule to quarantine (never collapsed, never dropped by the key join).
    ``only_slice``: bronze holds this slice's rows only (a first load), so every key of bronze is
    one of the slice and the join that finds their other versions is skipped (same result)."""
    this_slice = bronze.where(F.col("_logical_date") == F.lit(logical_date))
    null_key = reduce(lambda a, b: a | b, [F.col(k).isNull() for k in keys])
    if only_slice:
        candidates = this_slice.where(~null_key)
    else:
        affected = this_slice.where(~null_key).select(*keys).distinct()
        candidates = bronze.join(affected, list(keys), "left_semi")
    order = [
        F.when(F.col("_record_status") == DELETED, 0).otherwise(1),
        F.col(watermark).desc_nulls_last(),
        F.col("_logical_date").desc(),
        *([F.col(SLICE_START).desc_nulls_last()] if SLICE_START in bronze.columns else []),  # hourly: the later hour
        F.col("_load_timestamp").desc(),
        *([F.col(SOURCE_FILE).desc()] if SOURCE_FILE in bronze.columns else []),  # file tables: the later file
    ]
    ranked = candidates.withColumn("__rn", F.row_number().over(Window.partitionBy(*keys).orderBy(*order)))
    return ranked.where("__rn = 1").drop("__rn").unionByName(this_slice.where(null_key))


def latest_changes(bronze: DataFrame, keys: tuple[str, ...], logical_date: dt.date | None) -> DataFrame:
    """CDC bronze: for each key changed in ``logical_date``'s slice (None: every key), its last change
    in log order (transaction end LSN, then position in the transaction) in all of bronze -- a
    delete when the key is gone, whatever came before it (a key deleted and inserted again lives)."""
    candidates = bronze
    if logical_date is not None:
        affected = bronze.where(F.col("_logical_date") == F.lit(logical_date)).select(*keys).distinct()
        candidates = bronze.join(affected, list(keys), "left_semi")
    order = [F.col(CDC_LSN).desc(), F.col(CDC_SEQ).desc()]
    ranked = candidates.withColumn("__rn", F.row_number().over(Window.partitionBy(*keys).orderBy(*order)))
    return ranked.where("__rn = 1").drop("__rn")
