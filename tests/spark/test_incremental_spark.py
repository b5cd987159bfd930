"""Incremental building blocks on tiny inline frames: latest versions, live keys, tombstones, keyed
MERGE, the watermark registry."""

from __future__ import annotations

import datetime as dt
from functools import partial

from lakehouse_contract.naming import SLICE_START
from lakehouse_contract.specs import Rule
from spark_jobs.storage import watermarks
from spark_jobs.storage.delta_io import create_if_missing, merge_changes
from spark_jobs.storage.tables import TableRef
from spark_jobs.transforms.dq import FAILED_RULES, split, with_outcome, with_rule_flags
from spark_jobs.transforms.incremental import in_slice, latest_versions, live_keys, slice_keys, tombstones
from spark_jobs.transforms.silver import dedupe_latest

D1, D2, D3 = dt.date(2026, 11, 21), dt.date(2026, 11, 22), dt.date(2026, 11, 23)
T = [dt.datetime(2026, 11, d, 12) for d in (20, 21, 22, 23)]
COLS = "id bigint, qty int, updated_at timestamp, _logical_date date, _record_status string, _load_timestamp timestamp"


def _bronze(spark, rows):
    return spark.createDataFrame(rows, COLS)


def _ids(df) -> list[int]:
    return sorted(r["id"] for r in df.collect())


def test_latest_version_per_key_of_the_slice_whatever_the_load_order(spark) -> None:
    rows = [
        (1, 10, T[0], D1, "ACTIVE", T[0]),
        (1, 11, T[2], D3, "ACTIVE", T[1]),  # newer version loaded in a later slice
        (2, 20, T[1], D2, "ACTIVE", T[1]),
        (2, None, None, D3, "DELETED", T[2]),  # deleted later: the tombstone wins
        (3, 30, T[1], D2, "ACTIVE", T[1]),  # not in D1's slice: not touched by D1
    ]
    bronze = _bronze(spark, rows)
    d1 = {
        r["id"]: (r["qty"], r["_record_status"]) for r in latest_versions(bronze, ("id",), D1, "updated_at").collect()
    }
    assert d1 == {1: (11, "ACTIVE")}  # reprocessing D1 after D3 cannot bring back the old version
    d2 = {
        r["id"]: (r["qty"], r["_record_status"]) for r in latest_versions(bronze, ("id",), D2, "updated_at").collect()
    }
    assert d2 == {2: (None, "DELETED"), 3: (30, "ACTIVE")}
    # the answer does not depend on row order (slices arriving out of order)
    shuffled = _bronze(spark, list(reversed(rows)))
    assert sorted(latest_versions(shuffled, ("id",), D2, "updated_at").collect()) == sorted(
        latest_versions(bronze, ("id",), D2, "updated_at").collect()
    )


def test_rows_of_the_slice_with_a_null_key_each_reach_silver_and_its_quarantine(spark, tmp_path) -> None:
    """An incremental source without constraints: NULL-key rows of the slice are neither collapsed
    into one nor lost in the key join; silver's transform quarantines each under ``id_not_null``
    (rows of other slices stay out)."""
    rows = [
        (None, 1, T[0], D1, "ACTIVE", T[0]),  # another slice's NULL key: not this run's
        (None, 2, T[1], D2, "ACTIVE", T[1]),
        (None, 2, T[1], D2, "ACTIVE", T[1]),  # an exact duplicate is still its own row
        (None, 3, T[1], D2, "ACTIVE", T[1]),
        (5, 50, T[1], D2, "ACTIVE", T[1]),
    ]
    got = latest_versions(_bronze(spark, rows), ("id",), D2, "updated_at")
    assert sorted(((r["id"], r["qty"]) for r in got.collect()), key=repr) == sorted(
        [(None, 2), (None, 2), (None, 3), (5, 50)], key=repr
    )
    rules = (Rule("id_not_null", "expect_or_quarantine", "id IS NOT NULL"),)
    keep, quarantine = split(with_outcome(with_rule_flags(dedupe_latest(got, ("id",)), rules, {}), rules))
    assert [r["id"] for r in keep.collect()] == [5]
    assert sorted((r["qty"], list(r[FAILED_RULES])) for r in quarantine.collect()) == [
        (2, ["id_not_null"]), (2, ["id_not_null"]), (3, ["id_not_null"])
    ]  # fmt: skip


def test_live_keys_ignore_the_slice_being_rebuilt_and_tombstoned_keys(spark) -> None:
    bronze = _bronze(
        spark,
        [
            (1, 10, T[0], D1, "ACTIVE", T[0]),
            (2, 20, T[0], D1, "ACTIVE", T[0]),
            (2, None, None, D2, "DELETED", T[1]),
            (3, 30, T[0], D1, "ACTIVE", T[0]),
            (3, None, None, D3, "DELETED", T[2]),
            (4, 40, T[2], D3, "ACTIVE", T[2]),
            (None, 50, T[0], D1, "ACTIVE", T[0]),  # a NULL key is no key: never judged deleted
        ],
    )
    # rebuilding a slice recomputes its own tombstones, so their keys count as live again;
    # keys tombstoned in another slice are gone for good; the slice's own rows do not count
    assert _ids(live_keys(bronze, ["id"], D2)) == [1, 2, 4]
    assert _ids(live_keys(bronze, ["id"], D3)) == [1, 3]


def test_hourly_slices_of_one_day_are_told_apart_by_their_hour(spark) -> None:
    """cadence: hourly -- a day's slice is made of hours (``_slice_start``): rebuilding one hour
    leaves the other hours' keys live, and of one version read by two hours (a look-back) the
    later hour's row is the one silver takes."""
    h21, h22, h23 = (dt.datetime(2026, 11, 21, h) for h in (21, 22, 23))
    bronze = spark.createDataFrame(
        [
            (1, 10, T[0], D1, "ACTIVE", T[0], h21),
            (2, 20, T[0], D1, "ACTIVE", T[0], h21),
            (2, 21, T[1], D1, "ACTIVE", T[1], h22),
            (2, 21, T[1], D1, "ACTIVE", T[2], h23),  # the same version again, read by the next hour
            (3, None, None, D1, "DELETED", T[2], h23),
            (4, 40, T[0], D1, "ACTIVE", T[0], None),  # loaded before the table became hourly
        ],
        f"{COLS}, {SLICE_START} timestamp",
    )
    assert _ids(live_keys(bronze, ["id"], D1, h23)) == [1, 2, 4]  # 3's tombstone is the slice being rebuilt
    assert _ids(live_keys(bronze, ["id"], D1, h21)) == [2, 4]  # 1 lives only in the hour being rebuilt
    assert _ids(bronze.where(in_slice(D1, h22))) == [2] and _ids(bronze.where(in_slice(D1))) == [1, 2, 2, 2, 3, 4]
    latest = {r["id"]: (r["qty"], r[SLICE_START]) for r in latest_versions(bronze, ("id",), D1, "updated_at").collect()}
    assert latest[2] == (21, h23) and latest[1] == (10, h21) and latest[4] == (40, None)
    assert slice_keys(D1, h22) == {"_logical_date": "2026-11-21", SLICE_START: "2026-11-21 22:00:00"}


def test_tombstones_carry_only_the_key(spark) -> None:
    like = spark.createDataFrame([(1, 5, T[0])], "id bigint, qty int, updated_at timestamp")
    gone = tombstones(spark.createDataFrame([(7,)], "id bigint"), like)
    assert gone.schema == like.schema
    assert [tuple(r) for r in gone.collect()] == [(7, None, None)]


def test_merge_changes_upserts_deletes_and_is_idempotent(spark, tmp_path) -> None:
    schema = "id bigint, qty int, _row_hash string"
    target = TableRef("s", "t", str(tmp_path))
    create_if_missing(spark, target, spark.createDataFrame([], schema).schema)
    merge_changes(spark, target, spark.createDataFrame([(1, 1, "a"), (2, 2, "b"), (3, 3, "c")], schema),
                  spark.createDataFrame([], "id bigint"), ("id",))  # fmt: skip
    ups = spark.createDataFrame([(1, 10, "a2"), (2, 2, "b"), (4, 4, "d")], schema)
    dels = spark.createDataFrame([(3,), (99,)], "id bigint")  # 99: not there, nothing happens
    m = merge_changes(spark, target, ups, dels, ("id",))
    assert (m["num_updated_rows"], m["num_inserted_rows"], m["num_deleted_rows"]) == (1, 1, 1)  # 2 unchanged
    after = sorted(tuple(r) for r in target.read(spark).collect())
    assert after == [(1, 10, "a2"), (2, 2, "b"), (4, 4, "d")]
    again = merge_changes(spark, target, ups, dels, ("id",))
    assert (
        again.get("num_updated_rows", 0) == again.get("num_inserted_rows", 0) == again.get("num_deleted_rows", 0) == 0
    )
    assert sorted(tuple(r) for r in target.read(spark).collect()) == after


def test_merge_changes_compares_chosen_columns_null_safely(spark, tmp_path) -> None:
    schema = "id bigint, qty int, _batch_id string"
    target = TableRef("s", "q", str(tmp_path))
    create_if_missing(spark, target, spark.createDataFrame([], schema).schema)
    none = spark.createDataFrame([], "id bigint")
    merge_changes(spark, target, spark.createDataFrame([(1, None, "r1")], schema), none, ("id",), compare=("qty",))
    m = merge_changes(spark, target, spark.createDataFrame([(1, None, "r2")], schema), none, ("id",), compare=("qty",))
    assert m.get("num_updated_rows", 0) == 0  # NULL == NULL: unchanged, keeps the first batch id
    assert target.read(spark).first()["_batch_id"] == "r1"


def test_watermarks_move_only_forward_one_row_per_table(spark, tmp_path, monkeypatch) -> None:
    registry = TableRef("b", "bz_watermarks", str(tmp_path))
    advance = partial(watermarks.advance, spark, registry, watermark_column="updated_at", load_mode="incremental",
                      logical_date=D1, rows=1)  # fmt: skip
    assert advance(table="orders", high_water_mark=T[1], run_id="r1")
    assert advance(table="customers", high_water_mark=T[0], run_id="c1")
    assert not advance(table="orders", high_water_mark=T[0], run_id="older")
    assert not advance(table="orders", high_water_mark=T[1], run_id="same")
    version = spark.sql(f"DESCRIBE HISTORY {registry.sql_name} LIMIT 1").first()["version"]
    # a writer whose read went stale (another run committed a newer mark in between): Delta's
    # idempotent-write guard skips its write, without a commit
    monkeypatch.setattr(watermarks, "current", lambda *_: None)
    advance(table="orders", high_water_mark=T[0], run_id="stale")
    assert spark.sql(f"DESCRIBE HISTORY {registry.sql_name} LIMIT 1").first()["version"] == version
    assert advance(table="orders", high_water_mark=T[2], run_id="r2")
    marks = {r["table_name"]: (r["high_water_mark"], r["last_run_id"]) for r in registry.read(spark).collect()}
    assert marks == {"orders": (T[2], "r2"), "customers": (T[0], "c1")}
    assert spark.sql(f"DESCRIBE DETAIL {registry.sql_name}").first()["partitionColumns"] == ["table_name"]
