"""Silver transforms, DQ actions, PII protection, MERGE and a gold model on tiny inline DataFrames."""

from __future__ import annotations

import dataclasses
import datetime as dt
import hashlib
import hmac
from decimal import Decimal
from pathlib import Path

import pytest
from pyspark.sql import functions as F
from pyspark.testing import assertDataFrameEqual

from lakehouse_contract.naming import Location
from lakehouse_contract.specs import GoldSpec, Rule, SilverSpec
from spark_jobs.jobs.gold import build_model
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import ExpectationFailedError
from spark_jobs.storage.delta_io import create_if_missing, merge_by_key, replace_slice
from spark_jobs.storage.tables import TableRef
from spark_jobs.transforms.dq import (
    FAILED_RULES,
    check_fail_rules,
    count_failures,
    split,
    with_outcome,
    with_rule_flags,
)
from spark_jobs.transforms.pii import hmac_sha256, mask
from spark_jobs.transforms.schema import contract
from spark_jobs.transforms.silver import dedupe_latest, protect_pii, standardize, to_contract

KEY = b"test-key-not-a-secret"
T1, T2 = dt.datetime(2026, 1, 1, 10), dt.datetime(2026, 1, 2, 10)
D = dt.date(2026, 11, 23)

CUSTOMERS = SilverSpec(
    dag_id="d", task_id="inventory_silver.customers", table="customers", location=Location("/unused"),
    primary_key=("customer_id",),
    columns={"customer_id": "bigint", "customer_name": "string", "email": "string", "city": "string",
             "updated_at": "timestamp"},
    required=(), lowercase=("email",), pii={"customer_name": "name", "email": "email"}, hashed_id="customer_key",
    load_mode="full", watermark_column="updated_at", rules=(), pii_key_secret="env:UNUSED", audit_table="a",
)  # fmt: skip


def _bronze(spark, rows):
    return spark.createDataFrame(
        [(*r, "run-1", D) for r in rows],
        "customer_id int, customer_name string, email string, city string, updated_at timestamp, "
        "_batch_id string, _logical_date date",
    )


def test_standardize_trims_blanks_lowercases_and_casts(spark) -> None:
    bronze = _bronze(spark, [(1, "  Ann  Lee ", " Ann@X.COM ", "  ", T1), (2, None, None, "Pune", T2)])
    out = standardize(bronze, CUSTOMERS)
    expected = spark.createDataFrame(
        [(1, "Ann  Lee", "ann@x.com", None, T1, [], "run-1", D), (2, None, None, "Pune", T2, [], "run-1", D)],
        "customer_id bigint, customer_name string, email string, city string, updated_at timestamp, "
        "_cast_failed array<string>, _batch_id string, _logical_date date",
    )
    assertDataFrameEqual(out, expected)


def test_dedupe_keeps_latest_updated_at(spark) -> None:
    df = spark.createDataFrame(
        [(1, "old", T1), (1, "new", T2), (2, "only", T1)], "id int, v string, updated_at timestamp"
    )
    assertDataFrameEqual(
        dedupe_latest(df, ("id",)), spark.createDataFrame([(1, "new", T2), (2, "only", T1)], df.schema)
    )


def test_rows_with_a_null_key_are_not_collapsed_and_each_is_quarantined(spark) -> None:
    """Sources without constraints (files, views) have NULL keys: each such row reaches the
    quarantine under its key's rule instead of collapsing into one (or vanishing)."""
    df = spark.createDataFrame(
        [(None, "a", T1), (None, "b", T2), (None, "b", T2), (1, "old", T1), (1, "new", T2)],
        "id int, v string, updated_at timestamp",
    )
    deduped = dedupe_latest(df, ("id",))
    assert sorted(map(tuple, deduped.collect()), key=repr) == sorted(
        [(None, "a", T1), (None, "b", T2), (None, "b", T2), (1, "new", T2)], key=repr
    )
    rules = (Rule("id_not_null", "expect_or_quarantine", "id IS NOT NULL"),)
    keep, quarantine = split(with_outcome(with_rule_flags(deduped, rules, {}), rules))
    assert [r["id"] for r in keep.collect()] == [1]
    assert sorted((r["v"], list(r[FAILED_RULES])) for r in quarantine.collect()) == [
        ("a", ["id_not_null"]), ("b", ["id_not_null"]), ("b", ["id_not_null"])
    ]  # fmt: skip


def test_hmac_equals_python_hmac_and_masks(spark) -> None:
    values = ["ann.lee@mail.example.com", "+1-555-0001234", "x" * 300]
    df = spark.createDataFrame([(v,) for v in values] + [(None,)], "v string")
    got = [r[0] for r in df.select(hmac_sha256(F.col("v"), KEY)).collect()]
    assert got == [hmac.new(KEY, v.encode(), hashlib.sha256).hexdigest() for v in values] + [None]
    long_key = b"k" * 100  # keys longer than a block are hashed first (RFC 2104)
    (row,) = df.limit(1).select(hmac_sha256(F.col("v"), long_key)).collect()
    assert row[0] == hmac.new(long_key, values[0].encode(), hashlib.sha256).hexdigest()

    people = spark.createDataFrame(
        [("Ann Lee", "ann.lee@mail.example.com", "+1-555-0001234"), (None, "no-at-sign", None)],
        "n string, e string, p string",
    )
    masked = people.select(mask(F.col("n"), "name"), mask(F.col("e"), "email"), mask(F.col("p"), "phone")).collect()
    assert [tuple(r) for r in masked] == [("A*** L***", "a***@mail.example.com", "***-1234"), (None, "***", None)]


RULES = (
    Rule("email_not_null", "expect_or_quarantine", "email IS NOT NULL"),
    Rule("qty_not_negative", "expect_or_quarantine", "qty >= 0"),
    Rule("sane_date", "expect_or_drop", "d >= DATE'2000-01-01'"),
    Rule("qty_small", "expect", "qty < 100"),
    Rule("fk_parent_id", "expect_or_quarantine", fk_column="parent_id", fk_parent="parents", fk_parent_key="pid"),
)


def _dq_input(spark):
    return spark.createDataFrame(
        [
            (1, "a@x.io", 5, D, 10),  # clean
            (2, None, 5, D, 10),  # quarantine: email
            (3, "c@x.io", -1, D, 99),  # quarantine: qty + orphan
            (4, "d@x.io", 500, D, 10),  # warn only
            (5, "e@x.io", 5, dt.date(1900, 1, 1), 10),  # dropped
            (6, "f@x.io", None, None, None),  # NULLs pass every rule (SQL CHECK semantics)
            (7, None, 5, dt.date(1900, 1, 1), 10),  # quarantine wins over drop
        ],
        "id int, email string, qty int, d date, parent_id int",
    )


def test_dq_actions_split_rows_and_count_each_rule(spark) -> None:
    parents = {"fk_parent_id": spark.createDataFrame([(10,), (11,)], "pid int")}
    flagged = with_rule_flags(_dq_input(spark), RULES, parents)
    counts = count_failures(flagged, RULES)
    assert counts.per_rule == {
        "email_not_null": 2,
        "qty_not_negative": 1,
        "sane_date": 2,
        "qty_small": 1,
        "fk_parent_id": 1,
    }
    assert (counts.total, counts.failed_any, counts.quarantined, counts.dropped, counts.kept) == (7, 5, 3, 1, 3)
    assert counts.score == round(1 - 5 / 7, 6)
    check_fail_rules(counts, RULES)  # no expect_or_fail rule: no error

    keep, quarantine = split(with_outcome(flagged, RULES))
    assert sorted(r["id"] for r in keep.collect()) == [1, 4, 6]
    assert {r["id"]: r[FAILED_RULES] for r in keep.collect()}[4] == ["qty_small"]
    got = {r["id"]: sorted(r[FAILED_RULES]) for r in quarantine.collect()}
    assert got == {2: ["email_not_null"], 3: ["fk_parent_id", "qty_not_negative"], 7: ["email_not_null", "sane_date"]}


def test_expect_or_fail_raises_naming_rule_and_rows(spark) -> None:
    rules = (Rule("id_small", "expect_or_fail", "id < 3"),)
    counts = count_failures(with_rule_flags(_dq_input(spark), rules, {}), rules)
    with pytest.raises(ExpectationFailedError, match=r"id_small \(5 rows\); silver left unchanged"):
        check_fail_rules(counts, rules)


def test_pii_protected_and_contract_exact(spark) -> None:
    bronze = _bronze(spark, [(1, "Ann Lee", "Ann@X.com", "Pune", T1)])
    out = to_contract(protect_pii(standardize(bronze, CUSTOMERS), CUSTOMERS, KEY), CUSTOMERS)
    assert out.schema.fieldNames() == [
        "customer_key", "customer_id", "customer_name_hash", "customer_name_masked", "email_hash", "email_masked",
        "city", "updated_at", "_batch_id", "_logical_date", "_row_hash",
    ]  # fmt: skip
    row = out.first()
    h = lambda v: hmac.new(KEY, v.encode(), hashlib.sha256).hexdigest()  # noqa: E731
    assert (row["customer_key"], row["email_hash"], row["customer_name_hash"]) == (h("1"), h("ann@x.com"), h("Ann Lee"))
    assert (row["customer_name_masked"], row["email_masked"]) == ("A*** L***", "a***@x.com")
    assert "Ann Lee" not in str(row.asDict().values()) and "ann@x.com" not in str(row.asDict().values())


def test_merge_is_idempotent_and_applies_changes(spark, tmp_path) -> None:
    bronze = _bronze(spark, [(1, "Ann Lee", "a@x.io", "Pune", T1), (2, "Bo Li", "b@x.io", "Goa", T1)])
    batch = to_contract(protect_pii(standardize(bronze, CUSTOMERS), CUSTOMERS, KEY), CUSTOMERS)
    target = TableRef("s", "customers", str(tmp_path))
    create_if_missing(spark, target, contract(CUSTOMERS))
    merge_by_key(spark, target, batch, ("customer_id",), delete_missing=True)
    first = target.read(spark).collect()
    again = merge_by_key(spark, target, batch, ("customer_id",), delete_missing=True)
    assert (
        again.get("num_updated_rows", 0) == again.get("num_inserted_rows", 0) == again.get("num_deleted_rows", 0) == 0
    )
    assert sorted(target.read(spark).collect()) == sorted(first)

    changed = _bronze(spark, [(1, "Ann Lee", "a@x.io", "Delhi", T2), (3, "Cy Do", "c@x.io", "Goa", T2)])
    batch2 = to_contract(protect_pii(standardize(changed, CUSTOMERS), CUSTOMERS, KEY), CUSTOMERS)
    m = merge_by_key(spark, target, batch2, ("customer_id",), delete_missing=True)
    assert (m["num_updated_rows"], m["num_inserted_rows"], m["num_deleted_rows"]) == (1, 1, 1)
    rows = {r["customer_id"]: r["city"] for r in target.read(spark).collect()}
    assert rows == {1: "Delhi", 3: "Goa"}
    nullable = {f.name: f.nullable for f in target.read(spark).schema.fields}
    assert nullable["customer_id"] is False and nullable["city"] is True


def _gold_inputs(spark, root: str) -> tuple[str, ...]:
    tables = {
        "orders": spark.createDataFrame([(1, D, "DELIVERED"), (2, D, "CANCELLED"), (3, D, "SHIPPED")],
                                        "order_id bigint, order_date date, status string"),
        "order_details": spark.createDataFrame(
            [(i, o, p, q, Decimal(u), Decimal(d)) for i, o, p, q, u, d in
             [(1, 1, 10, 2, "5", "0"), (2, 1, 11, 1, "10", "0.5"), (3, 2, 10, 9, "5", "0"), (4, 3, 10, 1, "5", "0.1")]],
            "order_detail_id bigint, order_id bigint, product_id bigint, quantity int, unit_price decimal(12,2), "
            "discount decimal(5,2)"),
        "products": spark.createDataFrame([(10, "Toys"), (11, "Books")], "product_id bigint, category string"),
    }  # fmt: skip
    for name, frame in tables.items():
        TableRef("inventory_silver", name, root).save(frame.write.mode("overwrite"))
    return tuple(tables)


def _gold_spec(root: str, inputs: tuple[str, ...], sql_file: str) -> GoldSpec:
    return GoldSpec(dag_id="d", task_id="inventory_gold.daily_sales", table="daily_sales", location=Location(root),
                    sql_file=sql_file, inputs=inputs, partition_by=(), audit_table="bz_audit_log")  # fmt: skip


def test_gold_model_sql_over_named_inputs(spark, tmp_path) -> None:
    root = str(tmp_path)
    inputs = _gold_inputs(spark, root)
    ctx = RunContext(spec=_gold_spec(root, inputs, "unused"), run_id="r", try_number=1, logical_date=D)
    sql = (Path(__file__).parents[2] / "include/sql/gold/daily_sales.sql").read_text()
    out = build_model(spark, ctx, sql, list(inputs))
    expected = spark.createDataFrame(
        [(D, "Toys", Decimal("14.50"), 3, 2), (D, "Books", Decimal("5.00"), 1, 1)],
        "sales_date date, category string, revenue decimal(18,2), units long, orders long",
    )
    assertDataFrameEqual(out, expected)


def test_gold_sql_failing_at_run_time_names_the_error_and_keeps_the_previous_table(spark, tmp_path) -> None:
    from spark_jobs.jobs import dispatch
    from support.specs import job_argv

    root = str(tmp_path / "lake")
    inputs = _gold_inputs(spark, root)
    good = Path(__file__).parents[2] / "include/sql/gold/daily_sales.sql"
    assert dispatch(job_argv(_gold_spec(root, inputs, str(good)), "run-1")) == 0
    target = TableRef("inventory_gold", "daily_sales", root)
    version, before = target.latest_version(spark), sorted(map(tuple, target.read(spark).collect()))
    bad = tmp_path / "broken.sql"
    bad.write_text("SELECT o.no_such_column, count(*) AS n FROM orders o GROUP BY 1")
    with pytest.raises(Exception, match="no_such_column"):
        dispatch(job_argv(_gold_spec(root, inputs, str(bad)), "run-2"))
    assert target.latest_version(spark) == version
    assert sorted(map(tuple, target.read(spark).collect())) == before
    audit = TableRef("inventory_bronze", "bz_audit_log", root).read(spark).where("job_run_id = 'run-2'").collect()
    assert [(r["layer"], r["status"]) for r in audit] == [("gold", "FAILED")]
    assert "no_such_column" in audit[0]["error_details"]


def test_gold_keeps_its_table_while_its_inputs_stay_and_rebuilds_when_one_changes(spark, tmp_path) -> None:
    """A second run over the same inputs commits nothing; OPTIMIZE of an input is looked through; a
    changed input, ``mode=full`` or SQL reading ``run_context`` rebuild, and every rebuild equals
    the model computed afresh (the oracle: build_model over the inputs as they are)."""
    from spark_jobs.jobs import dispatch
    from support.specs import job_argv

    root = str(tmp_path / "lake")
    inputs = _gold_inputs(spark, root)
    sql_file = Path(__file__).parents[2] / "include/sql/gold/daily_sales.sql"
    spec = _gold_spec(root, inputs, str(sql_file))
    target = TableRef("inventory_gold", "daily_sales", root)
    audit = TableRef("inventory_bronze", "bz_audit_log", root)

    def run(run_id: str, gold: GoldSpec = spec, **flags: str) -> tuple[int, str]:
        assert dispatch(job_argv(gold, run_id, **flags)) == 0
        (row,) = audit.read(spark).where(F.col("job_run_id") == run_id).collect()
        return target.latest_version(spark), row["load_mode"]

    def fresh(run_id: str) -> list:
        ctx = RunContext(spec=spec, run_id=run_id, try_number=1, logical_date=D)
        return sorted(map(tuple, build_model(spark, ctx, sql_file.read_text(), list(inputs)).collect()))

    built, mode = run("run-1")
    assert mode is None and sorted(map(tuple, target.read(spark).collect())) == fresh("run-1")
    assert run("run-2") == (built, "unchanged")
    spark.sql(f"OPTIMIZE delta.`{root}/inventory_silver/orders`")  # rewrites files, not rows
    assert run("run-3") == (built, "unchanged")

    orders = TableRef("inventory_silver", "orders", root)
    changed = orders.read(spark).withColumn("status", F.when(F.col("order_id") == 2, "DELIVERED")
                                            .otherwise(F.col("status"))).localCheckpoint()  # fmt: skip
    orders.save(changed.write.mode("overwrite"))
    before = sorted(map(tuple, target.read(spark).collect()))
    version, mode = run("run-4")
    after = sorted(map(tuple, target.read(spark).collect()))
    assert version == built + 1 and mode is None and after == fresh("run-4") and after != before
    assert run("run-5", mode="full") == (built + 2, None)  # a forced run always recomputes

    per_run = tmp_path / "per_run.sql"
    per_run.write_text(sql_file.read_text() + " HAVING max(o.order_date) <= (SELECT logical_date FROM run_context)")
    reads_the_run = dataclasses.replace(spec, sql_file=str(per_run))
    assert run("run-6", reads_the_run)[0] == built + 3
    assert run("run-7", reads_the_run)[0] == built + 4  # never kept


def test_replace_slice_replaces_only_its_slice_even_with_quotes_in_values(spark, tmp_path) -> None:
    target = TableRef("s", "dq", str(tmp_path))
    schema = "run_id string, table_name string, n int"
    runs = ("manual__2026-11-20T00:00:00+00:00", "it's a run")
    for run in runs:
        frame = spark.createDataFrame([(run, "orders", 1), (run, "orders", 2)], schema)
        replace_slice(target, frame, {"run_id": run, "table_name": "orders"})
    replace_slice(
        target, spark.createDataFrame([(runs[1], "orders", 3)], schema), {"run_id": runs[1], "table_name": "orders"}
    )
    got = sorted((r["run_id"], r["n"]) for r in target.read(spark).collect())
    assert got == sorted([(runs[0], 1), (runs[0], 2), (runs[1], 3)])


def test_a_table_follows_a_contract_that_gained_a_column_and_refuses_one_that_lost_or_retyped_one(
    spark, tmp_path
) -> None:
    from pyspark.sql.types import LongType, StringType, StructField, StructType

    from spark_jobs.runtime.errors import SchemaContractError
    from spark_jobs.storage.delta_io import evolve_to_contract

    target = TableRef("inventory_silver", "t", str(tmp_path))
    create_if_missing(spark, target, StructType([StructField("id", LongType(), False), StructField("a", StringType())]))
    target.save(spark.createDataFrame([(1, "x")], "id bigint, a string").write.mode("append"))
    version = target.latest_version(spark)
    grown = StructType([*target.read(spark).schema.fields, StructField("b", StringType())])
    assert evolve_to_contract(spark, target, grown) == ["b"]
    assert [tuple(r) for r in target.read(spark).collect()] == [(1, "x", None)]
    assert evolve_to_contract(spark, target, grown) == []  # already there: nothing to do
    evolved = target.latest_version(spark)
    assert evolved == version + 1
    shrunk = StructType([StructField("id", LongType(), False), StructField("b", StringType())])
    with pytest.raises(SchemaContractError, match=r"has columns \['a'\] that the contract no longer declares"):
        evolve_to_contract(spark, target, shrunk)
    retyped = StructType(
        [StructField("id", StringType()), StructField("a", StringType()), StructField("b", StringType())]
    )
    with pytest.raises(SchemaContractError, match=r"changes the type of \['id \(bigint -> string\)'\]"):
        evolve_to_contract(spark, target, retyped)
    assert target.latest_version(spark) == evolved  # refused: nothing written


def test_an_empty_slice_settles_no_key_and_clears_an_earlier_attempts_null_key_rows(spark, tmp_path) -> None:
    """An incremental table whose bronze slice holds nothing records ``load_mode = empty``: silver
    keeps every row (no key of the slice to settle, as the full pass would conclude), the run's DQ
    results say zero rows, and NULL-key rows an earlier attempt of that slice quarantined leave."""
    from spark_jobs.jobs import dispatch
    from support.specs import job_argv

    root = str(tmp_path / "lake")
    spec = SilverSpec(
        dag_id="d", task_id="inventory_silver.items", table="items", location=Location(root), primary_key=("id",),
        columns={"id": "bigint", "v": "string", "updated_at": "timestamp"}, required=(), lowercase=(), pii={},
        hashed_id=None, load_mode="incremental", watermark_column="updated_at", pii_key_secret=None, audit_table="a",
        rules=(Rule("id_not_null", "expect_or_quarantine", "id IS NOT NULL"),),
    )  # fmt: skip
    bronze = TableRef("inventory_bronze", "bz_items", root)
    cols = ("id bigint, v string, updated_at timestamp, _record_status string, _logical_date date, "
            "_load_timestamp timestamp, _batch_id string")  # fmt: skip
    slice_rows = [(1, "a", T1, "ACTIVE", D, T2, "b1"), (2, "b", T1, "ACTIVE", D, T2, "b1"),
                  (None, "no key", T1, "ACTIVE", D, T2, "b1")]  # fmt: skip
    bronze.save(spark.createDataFrame(slice_rows, cols).write.mode("overwrite"))
    silver, quarantine = (
        TableRef("inventory_silver", "items", root),
        TableRef("inventory_silver", "items_quarantine", root),
    )
    audit, dq = TableRef("inventory_bronze", "a", root), TableRef("inventory_silver", "dq_results", root)

    def run(run_id: str, day: dt.date = D) -> tuple[str, int]:
        assert dispatch(job_argv(spec, run_id, logical_date=str(day))) == 0
        (row,) = audit.read(spark).where(F.col("job_run_id") == run_id).collect()
        return row["load_mode"], row["rows_read"]

    assert run("run-1") == ("incremental", 3)
    assert [r["v"] for r in quarantine.read(spark).collect()] == ["no key"]
    rows, version = sorted(map(tuple, silver.read(spark).collect())), silver.latest_version(spark)
    assert [r[0] for r in rows] == [1, 2]

    replace_slice(bronze, spark.createDataFrame([], cols), {"_logical_date": str(D)})  # the window now holds nothing
    assert run("run-2") == ("empty", 0)
    assert sorted(map(tuple, silver.read(spark).collect())) == rows and silver.latest_version(spark) == version
    assert quarantine.read(spark).count() == 0  # the earlier attempt's NULL-key row of this slice left
    summary = dq.read(spark).where((F.col("run_id") == "run-2") & (F.col("rule") == "_table")).collect()
    assert [(r["total_rows"], r["dq_score"]) for r in summary] == [(0, None)]
    assert run("run-3", D + dt.timedelta(days=1)) == ("empty", 0)  # a date bronze never loaded
    assert silver.latest_version(spark) == version
