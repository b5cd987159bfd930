"""Pure decisions of incremental loading: watermark windows, effective mode, delete checks, drift."""

from __future__ import annotations

import datetime as dt

import pytest

from spark_jobs.runtime.errors import JobError, SchemaDriftError
from spark_jobs.transforms.drift import check_drift
from spark_jobs.transforms.incremental import WatermarkWindow, deletes_due, effective_mode


def test_window_is_the_data_interval_in_source_local_time() -> None:
    w = WatermarkWindow.from_interval("2026-11-19T20:30:00+00:00", "2026-11-20T20:30:00+00:00", "Asia/Kolkata")
    assert (w.start, w.end) == (dt.datetime(2026, 11, 20, 2, 0), dt.datetime(2026, 11, 21, 2, 0))
    assert w.predicate("updated_at") == (
        "updated_at >= TIMESTAMP '2026-11-20 02:00:00.000000' AND updated_at < TIMESTAMP '2026-11-21 02:00:00.000000'"
    )
    utc = WatermarkWindow.from_interval("2026-11-19T20:30:00+00:00", "2026-11-20T20:30:00+00:00", "UTC")
    assert utc.start == dt.datetime(2026, 11, 19, 20, 30)


@pytest.mark.parametrize(
    ("start", "end", "message"),
    [
        ("None", "None", "needs the run's data interval"),
        ("2026-11-19T20:30:00", "2026-11-20T20:30:00", "has no time zone"),
        ("2026-11-20T20:30:00+00:00", "2026-11-20T20:30:00+00:00", "empty data interval"),
    ],
)
def test_window_rejects_missing_naive_or_empty_intervals(start: str, end: str, message: str) -> None:
    with pytest.raises(JobError, match=message):
        WatermarkWindow.from_interval(start, end, "UTC")


def test_effective_mode() -> None:
    assert effective_mode("full", "incremental", set(), True) == "full"
    assert effective_mode("incremental", "incremental", set(), True) == "incremental"
    assert effective_mode("incremental", "full", set(), True) == "full"  # params.mode=full
    assert effective_mode("incremental", "incremental", set(), False) == "full"  # first load
    assert effective_mode("incremental", "incremental", {"full"}, True) == "full"  # rerun of a full date
    assert effective_mode("incremental", "incremental", {"incremental"}, True) == "incremental"
    with pytest.raises(JobError, match="unknown mode"):
        effective_mode("incremental", "sometimes", set(), True)


def test_delete_detection_schedule() -> None:
    sunday, monday = dt.date(2026, 11, 22), dt.date(2026, 11, 23)
    assert deletes_due("never", "full", monday)  # a full load always reconciles keys
    assert deletes_due("every_run", "incremental", monday)
    assert not deletes_due("never", "incremental", sunday)
    assert deletes_due("weekly", "incremental", sunday) and not deletes_due("weekly", "incremental", monday)


CONTRACT = {"order_id": "bigint", "status": "string", "total_amount": "decimal(12,2)", "updated_at": "timestamp"}
SOURCE = {
    "order_id": "bigint",
    "status": "text",
    "total_amount": "numeric",
    "updated_at": "timestamp without time zone",
}


def test_drift_new_columns_are_reported_in_source_order() -> None:
    assert check_drift("s.orders", CONTRACT, SOURCE).describe() is None
    drift = check_drift("s.orders", CONTRACT, {**SOURCE, "channel": "text", "promo": "integer"})
    assert drift.added == (("channel", "text"), ("promo", "integer"))
    assert drift.describe() == "added channel (text), added promo (integer)"


def test_drift_dropped_or_retyped_contract_columns_fail_clearly() -> None:
    dropped = {k: v for k, v in SOURCE.items() if k != "status"}
    with pytest.raises(SchemaDriftError, match=r"s.orders .* dropped status\. Nothing was written"):
        check_drift("s.orders", CONTRACT, dropped)
    with pytest.raises(SchemaDriftError, match="retyped total_amount: contract decimal.12,2., source text"):
        check_drift("s.orders", CONTRACT, {**SOURCE, "total_amount": "text"})


def test_window_reads_back_a_lookback_and_from_the_last_mark_after_a_gap() -> None:
    w = WatermarkWindow(dt.datetime(2026, 11, 20, 2), dt.datetime(2026, 11, 21, 2))
    # daily runs in order: the previous run's mark is this window's start; only the look-back widens it
    assert w.extended(dt.timedelta(0), w.start) == w
    assert w.extended(dt.timedelta(minutes=30), w.start).start == dt.datetime(2026, 11, 20, 1, 30)
    # a day that never ran: read from the last committed mark, not only this interval (no hole)
    missed = dt.datetime(2026, 11, 19, 2)
    assert w.extended(dt.timedelta(minutes=30), missed) == WatermarkWindow(missed, w.end)
    # a backfill of an older date (the mark is ahead) or a first load (no mark): its own interval
    assert w.extended(dt.timedelta(0), dt.datetime(2026, 11, 25, 2)) == w
    assert w.extended(dt.timedelta(0), None) == w
    assert w.extended(dt.timedelta(0), None).predicate("updated_at") == (
        "updated_at >= TIMESTAMP '2026-11-20 02:00:00.000000' AND updated_at < TIMESTAMP '2026-11-21 02:00:00.000000'"
    )
