"""``silver.history: scd2`` on tiny inline frames: versions from CDC change rows and from incremental
slices, checked against a replay written out by hand; the same set of versions in any order gives
the same history."""

from __future__ import annotations

import datetime as dt
import random

from lakehouse_contract.naming import IS_CURRENT, SLICE_START, VALID_FROM, VALID_TO, Location
from lakehouse_contract.specs import SilverSpec
from spark_jobs.transforms.history import CARRY, kept_history, scd2, versioned

T = [dt.datetime(2026, 11, 20, 10, m) for m in range(10)]
D1, D2, D3 = dt.date(2026, 11, 21), dt.date(2026, 11, 22), dt.date(2026, 11, 23)
CDC_COLS = "id bigint, qty int, _record_status string, _lsn bigint, _seq int, _commit_timestamp timestamp"
INC_COLS = (
    "id bigint, qty int, updated_at timestamp, _record_status string, _logical_date date, _load_timestamp timestamp"
)


def _spec(load_mode: str) -> SilverSpec:
    return SilverSpec(
        dag_id="d", task_id="s.t", table="t", location=Location("/unused"), primary_key=("id",),
        columns={"id": "bigint", "qty": "int", "updated_at": "timestamp"}, required=(), lowercase=(), pii={},
        hashed_id=None, load_mode=load_mode, watermark_column="updated_at", rules=(), pii_key_secret=None,
        audit_table="a", history="scd2",
    )  # fmt: skip


def _history(spark, bronze, load_mode: str) -> list[tuple]:
    """Versions -> contract-like rows (the qty as the row hash) -> history as sorted tuples."""
    from pyspark.sql import functions as F

    v = versioned(bronze, _spec(load_mode))
    live = v.where(~F.col("__gone")).select("id", "qty", F.col("qty").cast("string").alias("_row_hash"), *CARRY)
    gone = v.where(F.col("__gone")).select("id", *CARRY)
    out = scd2(live.unionByName(gone, allowMissingColumns=True), ("id",))
    return sorted(tuple(r) for r in out.select("id", "qty", VALID_FROM, VALID_TO, IS_CURRENT).collect())


def test_cdc_history_replays_the_change_log(spark) -> None:
    log = [  # id, qty, status, lsn, seq, commit time
        (1, 10, "ACTIVE", 100, 0, T[1]),  # insert
        (1, 11, "ACTIVE", 200, 0, T[2]),  # update
        (1, 12, "ACTIVE", 200, 1, T[2]),  # updated again in the same transaction: the last counts
        (1, 12, "ACTIVE", 300, 0, T[3]),  # an update that changed nothing: no new version
        (1, None, "DELETED", 400, 0, T[4]),  # delete: ends the version
        (1, 13, "ACTIVE", 500, 0, T[5]),  # the key inserted again
        (2, 20, "ACTIVE", 50, 0, T[0]),  # a snapshot row, never changed
        (3, 30, "ACTIVE", 100, 1, T[1]),
        (3, None, "DELETED", 600, 0, T[6]),  # deleted for good
    ]
    expected = [
        (1, 10, T[1], T[2], False),
        (1, 12, T[2], T[4], False),
        (1, 13, T[5], None, True),
        (2, 20, T[0], None, True),
        (3, 30, T[1], T[6], False),
    ]
    assert _history(spark, spark.createDataFrame(log, CDC_COLS), "cdc") == expected
    shuffled = list(log)
    random.Random(7).shuffle(shuffled)
    assert _history(spark, spark.createDataFrame(shuffled, CDC_COLS), "cdc") == expected


def test_incremental_history_from_dated_slices_in_any_load_order(spark) -> None:
    slices = [  # id, qty, updated_at, status, slice, loaded at
        (1, 10, T[1], "ACTIVE", D1, T[7]),
        (1, 10, T[1], "ACTIVE", D2, T[8]),  # re-read by the next slice's look-back: no new version
        (1, 11, T[3], "ACTIVE", D2, T[8]),
        (2, 20, T[2], "ACTIVE", D1, T[7]),
        (2, None, None, "DELETED", D3, T[9]),  # gone when D3 was read: valid until the end of that day
    ]
    expected = [
        (1, 10, T[1], T[3], False),
        (1, 11, T[3], None, True),
        (2, 20, T[2], dt.datetime(2026, 11, 24), False),
    ]
    assert _history(spark, spark.createDataFrame(slices, INC_COLS), "incremental") == expected
    # loaded in another order (other load times): the same history
    replayed = [(*r[:5], T[9 - i]) for i, r in enumerate(reversed(slices))]
    assert _history(spark, spark.createDataFrame(replayed, INC_COLS), "incremental") == expected


def test_hourly_history_dates_a_delete_at_the_end_of_its_hour(spark) -> None:
    """cadence: hourly -- the slices are hours of one day: a delete is dated at the end of the hour
    that found it, not of the day; any load order gives the same history."""
    h = [dt.datetime(2026, 11, 21, 9), dt.datetime(2026, 11, 21, 10), dt.datetime(2026, 11, 21, 11)]
    cols = f"{INC_COLS}, {SLICE_START} timestamp"
    slices = [  # id, qty, updated_at, status, day, loaded at, hour
        (1, 10, T[1], "ACTIVE", D1, T[7], h[0]),
        (1, 11, T[3], "ACTIVE", D1, T[8], h[1]),
        (2, 20, T[2], "ACTIVE", D1, T[7], h[0]),
        (2, None, None, "DELETED", D1, T[9], h[2]),  # gone when 11:00-12:00 was read
    ]
    expected = [
        (1, 10, T[1], T[3], False),
        (1, 11, T[3], None, True),
        (2, 20, T[2], dt.datetime(2026, 11, 21, 12), False),
    ]
    assert _history(spark, spark.createDataFrame(slices, cols), "incremental") == expected
    replayed = [(*r[:5], T[9 - i], r[6]) for i, r in enumerate(reversed(slices))]
    assert _history(spark, spark.createDataFrame(replayed, cols), "incremental") == expected


def test_history_older_than_bronze_is_kept(spark) -> None:
    """Bronze re-snapshotted: its versions start later than the history already built."""
    from pyspark.sql import functions as F

    existing = spark.createDataFrame(
        [(1, 9, "9", T[0], T[1], False), (1, 10, "10", T[2], None, True), (2, 20, "20", T[0], T[3], False)],
        f"id bigint, qty int, _row_hash string, {VALID_FROM} timestamp, {VALID_TO} timestamp, {IS_CURRENT} boolean",
    )
    snapshot = versioned(spark.createDataFrame([(1, 10, "ACTIVE", 900, 0, T[5])], CDC_COLS), _spec("cdc"))
    rows = snapshot.select("id", "qty", F.col("qty").cast("string").alias("_row_hash"), *CARRY)
    built = scd2(rows.unionByName(kept_history(existing, snapshot, ("id",)), allowMissingColumns=True), ("id",))
    got = sorted(tuple(r) for r in built.select("id", "qty", VALID_FROM, VALID_TO, IS_CURRENT).collect())
    # key 1: the snapshot holds the version already open (no new one); key 2 (not in bronze) as it was
    assert got == [(1, 9, T[0], T[1], False), (1, 10, T[2], None, True), (2, 20, T[0], T[3], False)]
