"""A table's first load takes shortcuts that must give what the general path gives: the insert-only
MERGE into a table just created (``delta_io._merge``), and ``latest_versions`` over a bronze table
that holds one slice."""

from __future__ import annotations

import datetime as dt
import json

import pytest

from spark_jobs.storage import delta_io
from spark_jobs.storage.delta_io import create_if_missing, merge_by_key, merge_changes
from spark_jobs.storage.tables import TableRef
from spark_jobs.transforms.incremental import latest_versions

SCHEMA = "id bigint, qty int, _row_hash string"
D1 = dt.date(2026, 11, 21)
T = [dt.datetime(2026, 11, 21, h) for h in (1, 2, 3)]


def _rows(spark, table: TableRef) -> list[tuple]:
    return sorted(tuple(r) for r in table.read(spark).collect())


def _last_merge(spark, table: TableRef) -> dict[str, str]:
    """The operation parameters of the table's newest commit."""
    row = spark.sql(f"DESCRIBE HISTORY {table.sql_name} LIMIT 1").collect()[0]
    assert row["operation"] == "MERGE"
    return dict(row["operationParameters"])


def _new_table(spark, tmp_path, name: str) -> TableRef:
    table = TableRef("s", name, str(tmp_path))
    assert create_if_missing(spark, table, spark.createDataFrame([], SCHEMA).schema)
    return table


def test_a_new_table_is_loaded_by_an_insert_only_merge(spark, tmp_path) -> None:
    source = [(1, 10, "a"), (2, 20, "b"), (3, 30, "c")]
    by_key = _new_table(spark, tmp_path, "by_key")
    m = merge_by_key(spark, by_key, spark.createDataFrame(source, SCHEMA), ("id",), delete_missing=True, new=True)
    assert _rows(spark, by_key) == source
    assert m["num_inserted_rows"] == 3
    params = _last_merge(spark, by_key)  # no update or delete clause ran: the source was read once
    assert json.loads(params["matchedPredicates"]) == [] and json.loads(params["notMatchedBySourcePredicates"]) == []

    changes = _new_table(spark, tmp_path, "changes")
    deletes = spark.createDataFrame([(7,)], "id bigint")  # nothing to delete in a new table
    m = merge_changes(spark, changes, spark.createDataFrame(source, SCHEMA), deletes, ("id",), new=True)
    assert _rows(spark, changes) == source and m["num_inserted_rows"] == 3
    assert json.loads(_last_merge(spark, changes)["matchedPredicates"]) == []
    # the next load of the same table is an ordinary MERGE (updates, deletes)
    merge_changes(spark, changes, spark.createDataFrame([(1, 11, "a2")], SCHEMA), spark.createDataFrame([(2,)], "id bigint"),
                  ("id",))  # fmt: skip
    assert _rows(spark, changes) == [(1, 11, "a2"), (3, 30, "c")]


def test_a_table_that_already_holds_rows_gets_the_full_merge(spark, tmp_path) -> None:
    """``new`` from a caller whose table a concurrent writer created and filled first."""
    table = _new_table(spark, tmp_path, "held")
    spark.sql(f"INSERT INTO {table.sql_name} VALUES (1, 1, 'old'), (9, 9, 'gone')")
    source = spark.createDataFrame([(1, 10, "a"), (2, 20, "b")], SCHEMA)
    merge_by_key(spark, table, source, ("id",), delete_missing=True, new=True)
    assert _rows(spark, table) == [(1, 10, "a"), (2, 20, "b")]
    assert json.loads(_last_merge(spark, table)["matchedPredicates"]) != []


@pytest.mark.parametrize("kind", ["by_key", "changes"])
def test_a_commit_between_the_check_and_the_insert_is_caught(spark, tmp_path, monkeypatch, kind) -> None:
    """Another writer commits after the table was found empty: the insert-only MERGE alone would
    leave its rows as they are; the full MERGE that follows makes the table what it alone gives."""
    table = _new_table(spark, tmp_path, kind)
    checked = delta_io._empty_at

    def racing(spark_, ref):
        version = checked(spark_, ref)
        spark_.sql(f"INSERT INTO {ref.sql_name} VALUES (1, 1, 'theirs'), (9, 9, 'theirs')")
        return version

    monkeypatch.setattr(delta_io, "_empty_at", racing)
    source = spark.createDataFrame([(1, 10, "a"), (2, 20, "b")], SCHEMA)
    if kind == "by_key":
        m = merge_by_key(spark, table, source, ("id",), delete_missing=True, new=True)
        assert _rows(spark, table) == [(1, 10, "a"), (2, 20, "b")]  # 9 is not in the source: deleted
        assert (m["num_inserted_rows"], m["num_updated_rows"], m["num_deleted_rows"]) == (1, 1, 1)
    else:
        m = merge_changes(spark, table, source, spark.createDataFrame([], "id bigint"), ("id",), new=True)
        assert _rows(spark, table) == [(1, 10, "a"), (2, 20, "b"), (9, 9, "theirs")]  # untouched key stays
        assert (m["num_inserted_rows"], m["num_updated_rows"]) == (1, 1)


def test_latest_versions_of_a_bronze_holding_one_slice_skip_no_key(spark) -> None:
    cols = (
        "id bigint, qty int, updated_at timestamp, _logical_date date, _record_status string, _load_timestamp timestamp"
    )
    rows = [
        (1, 10, T[0], D1, "ACTIVE", T[0]),
        (1, 11, T[1], D1, "ACTIVE", T[1]),  # two versions of a key in one slice: the newer wins
        (2, 20, T[0], D1, "ACTIVE", T[0]),
        (2, None, None, D1, "DELETED", T[2]),  # the tombstone wins
        (None, 5, T[0], D1, "ACTIVE", T[0]),  # NULL keys are kept, each as it is
        (None, 5, T[0], D1, "ACTIVE", T[0]),
        (3, 30, T[2], D1, "ACTIVE", T[2]),
    ]
    bronze = spark.createDataFrame(rows, cols)
    general = sorted((tuple(r) for r in latest_versions(bronze, ("id",), D1, "updated_at").collect()), key=repr)
    shortcut = latest_versions(bronze, ("id",), D1, "updated_at", only_slice=True).collect()
    assert sorted((tuple(r) for r in shortcut), key=repr) == general
    assert sorted(((r["id"], r["qty"], r["_record_status"]) for r in shortcut), key=repr) == sorted(
        [(1, 11, "ACTIVE"), (2, None, "DELETED"), (3, 30, "ACTIVE"), (None, 5, "ACTIVE"), (None, 5, "ACTIVE")], key=repr
    )
