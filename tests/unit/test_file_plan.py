"""Which files a run of a file table owns (``spark_jobs.transforms.file_plan``): pure rules, no Spark."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_jobs.transforms.file_plan import ListedFile, ManifestEntry, file_date, plan_run

LOC = "/drops/web"
T0 = dt.datetime(2026, 11, 20, 6, 0)


def f(name: str, size: int = 10, modified: dt.datetime = T0) -> ListedFile:
    return ListedFile(f"{LOC}/{name}", size, modified)


def owned(file: ListedFile, date: str, replaced: str | None = None) -> ManifestEntry:
    return ManifestEntry(file.path, file.size, file.modified, dt.date.fromisoformat(date),
                         dt.date.fromisoformat(replaced) if replaced else None, "loaded")  # fmt: skip


def plan(listed, manifest, date: str, on_modified: str = "reload", tz: str = "UTC"):
    return plan_run(listed, {e.path: e for e in manifest}, dt.date.fromisoformat(date), location=LOC,
                    date_pattern=r"(\d{4}-\d{2}-\d{2})", timezone=tz, on_modified=on_modified)  # fmt: skip


def claimed(p) -> list[str]:
    return [c.file.path.rsplit("/", 2)[-2] + "/" + c.file.path.rsplit("/", 1)[-1] for c in p.claims]


def test_new_files_up_to_the_runs_date_only() -> None:
    files = [f("2026-11-19/a.json"), f("2026-11-20/b.json"), f("2026-11-21/c.json")]
    p = plan(files, [], "2026-11-20")
    assert claimed(p) == ["2026-11-19/a.json", "2026-11-20/b.json"] and p.future == 1


def test_a_rerun_reloads_what_its_slice_owns_and_nothing_another_slice_owns() -> None:
    a, b = f("2026-11-19/a.json"), f("2026-11-20/b.json")
    p = plan([a, b], [owned(a, "2026-11-19"), owned(b, "2026-11-20")], "2026-11-20")
    assert claimed(p) == ["2026-11-20/b.json"] and p.unchanged_elsewhere == 1


def test_a_late_file_goes_to_the_next_run_and_a_backfill_never_takes_newer_files() -> None:
    late, new = f("2026-11-18/late.json"), f("2026-11-21/n.json")
    assert claimed(plan([late, new], [], "2026-11-21")) == ["2026-11-18/late.json", "2026-11-21/n.json"]
    # once owned by 11-21, a rerun (or backfill) of 11-18 leaves it
    p = plan([late, new], [owned(late, "2026-11-21"), owned(new, "2026-11-21")], "2026-11-18")
    assert claimed(p) == [] and p.unchanged_elsewhere == 2


def test_a_rewritten_file_moves_to_this_run_under_reload_and_stays_under_ignore() -> None:
    old = f("2026-11-19/a.json")
    new = f("2026-11-19/a.json", size=11, modified=T0 + dt.timedelta(hours=1))
    p = plan([new], [owned(old, "2026-11-19")], "2026-11-22")
    assert claimed(p) == ["2026-11-19/a.json"]
    assert p.replaced(dt.date(2026, 11, 22)) == [(dt.date(2026, 11, 19), new.path)]
    ignored = plan([new], [owned(old, "2026-11-19")], "2026-11-22", on_modified="ignore")
    assert ignored.claims == [] and ignored.modified_ignored == [new.path]


def test_a_retry_after_the_claim_still_removes_the_older_rows() -> None:
    """Claimed by 11-22 (replacing 11-19's rows), then the run died before bronze committed."""
    new = f("2026-11-19/a.json", size=11)
    p = plan([new], [owned(new, "2026-11-22", replaced="2026-11-19")], "2026-11-22")
    assert p.replaced(dt.date(2026, 11, 22)) == [(dt.date(2026, 11, 19), new.path)]


@pytest.mark.parametrize(
    ("path", "modified", "tz", "expected"),
    [
        ("2026-11-19/a.json", T0, "UTC", "2026-11-19"),
        ("year/x_2026-01-02_y.csv", T0, "UTC", "2026-01-02"),
        ("undated.json", dt.datetime(2026, 11, 20, 20, 0), "UTC", "2026-11-20"),
        ("undated.json", dt.datetime(2026, 11, 20, 20, 0), "Asia/Kolkata", "2026-11-21"),  # 01:30 next day
        ("2026-13-45/bad.json", T0, "UTC", "2026-11-20"),  # not a date: the modification time's
    ],
)
def test_a_files_date(path: str, modified: dt.datetime, tz: str, expected: str) -> None:
    assert file_date(path, modified, r"(\d{4}-\d{2}-\d{2})", tz) == dt.date.fromisoformat(expected)
