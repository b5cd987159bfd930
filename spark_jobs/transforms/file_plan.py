"""Which files a run of a file table loads (pure: no Spark, unit-tested on its own).

Every file belongs to exactly one bronze slice (``_logical_date``), recorded in the file manifest:

* a file nobody loaded yet is claimed by the first run whose logical date is on or after the file's
  date (a ``YYYY-MM-DD`` in its path, else its modification time's date), so a late file for an old
  date lands in the next run, and a backfill of an old date never takes a newer date's files;
* a rerun of a date reloads every file its slice owns (the slice is replaced: no duplicates);
* a file rewritten in place after it was loaded (size or modification time changed) is, by policy,
  ``reload``: claimed by this run, its older rows removed from the slice that held them in the same
  commit; or ``ignore``: left as loaded, counted and warned about.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo


@dataclass(frozen=True)
class ListedFile:
    path: str  # normalised: /abs/path or s3a://bucket/key
    size: int
    modified: dt.datetime  # UTC, naive


@dataclass(frozen=True)
class ManifestEntry:
    path: str
    size: int
    modified: dt.datetime
    logical_date: dt.date  # the slice that owns the file
    replaced_date: dt.date | None  # the slice that held an older version of it (reload policy)
    status: str  # loaded | skipped
    error: str | None = None  # skipped: why
    batch_id: str | None = None  # the run that claimed it


@dataclass(frozen=True)
class Claim:
    file: ListedFile
    replaced_date: dt.date | None  # older rows of the file to remove from that slice


@dataclass
class Plan:
    claims: list[Claim] = field(default_factory=list)  # files this run reads (and owns)
    future: int = 0  # dated after this run: a later run's
    unchanged_elsewhere: int = 0  # owned by another slice, not modified
    modified_ignored: list[str] = field(default_factory=list)  # rewritten, policy ignore

    def replaced(self, logical_date: dt.date) -> list[tuple[dt.date, str]]:
        """(slice, path) of the older rows to delete in this run's bronze commit."""
        return sorted(
            (c.replaced_date, c.file.path)
            for c in self.claims
            if c.replaced_date is not None and c.replaced_date != logical_date
        )


def utc_naive(value: dt.datetime) -> dt.datetime:
    """A timestamp Spark handed back (naive, in this process's zone) as naive UTC, to the second."""
    aware = value if value.tzinfo else value.astimezone()
    return aware.astimezone(dt.UTC).replace(tzinfo=None, microsecond=0)


def relative(path: str, location: str) -> str:
    """``path`` below ``location`` (both normalised); the whole path when it is not below it."""
    base = location.rstrip("/") + "/"
    return path[len(base) :] if path.startswith(base) else path


def file_date(rel_path: str, modified: dt.datetime, pattern: str, timezone: str) -> dt.date:
    """The date a file is for: the first ``pattern`` match in its path (``YYYY-MM-DD``, or the
    pattern's first group), else the date of its modification time in ``timezone``."""
    match = re.search(pattern, rel_path)
    if match:
        text = match.group(1) if match.groups() else match.group(0)
        try:
            return dt.date.fromisoformat(text)
        except ValueError:
            pass  # not a date: fall back to the modification time
    return modified.replace(tzinfo=dt.UTC).astimezone(ZoneInfo(timezone)).date()


def plan_run(
    listed: list[ListedFile],
    manifest: dict[str, ManifestEntry],
    logical_date: dt.date,
    *,
    location: str,
    date_pattern: str,
    timezone: str,
    on_modified: str,
) -> Plan:
    plan = Plan()
    for f in sorted(listed, key=lambda x: x.path):
        known = manifest.get(f.path)
        if known is None:
            if file_date(relative(f.path, location), f.modified, date_pattern, timezone) <= logical_date:
                plan.claims.append(Claim(f, None))
            else:
                plan.future += 1
        elif known.logical_date == logical_date:  # this slice's own file: a rerun reloads it
            plan.claims.append(Claim(f, known.replaced_date))
        elif (known.size, known.modified) != (f.size, f.modified):
            if on_modified == "reload":
                plan.claims.append(Claim(f, known.logical_date))
            else:
                plan.modified_ignored.append(f.path)
        else:
            plan.unchanged_elsewhere += 1
    return plan
