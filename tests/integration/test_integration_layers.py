"""Silver and gold on the shared full run: DQ vs the generator's dirt, PII, gold vs PostgreSQL;
and a second, config-only pipeline."""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json

import psycopg
import yaml
from pyspark.sql import functions as F

from support.dagrun import (
    DATE,
    SHIPPED,
    dags_test,
    read_gold,
    read_silver,
)
from support.env import IT_SCHEMA, ROOT

GENERATOR_RULES = {
    ("products", "null_required.product_name"): "product_name_not_null",
    ("products", "negative.unit_price"): "unit_price_not_negative",
    ("suppliers", "invalid_email.email"): "email_well_formed",
    ("customers", "null_required.email"): "email_present",
    ("inventory", "negative.quantity_available"): "quantity_not_negative",
    ("orders", "null_required.total_amount"): "total_amount_not_null",
    ("order_details", "negative.quantity"): "quantity_not_negative",
    ("shipments", "implausible_date.delivery_date"): "delivery_not_before_shipment",
    ("returns", "negative.quantity"): "quantity_not_negative",
    ("stock_levels", "negative.reorder_threshold"): "reorder_threshold_not_negative",
}
FK_ORDER = ["suppliers", "products", "warehouses", "customers", "orders", "inventory", "order_details", "shipments",
            "returns", "stock_levels"]  # fmt: skip


def _expected_quality(dsn: str) -> tuple[dict[tuple[str, str], int], dict[str, set[int]]]:
    """Independently of the Spark code: per (table, rule) failure counts and the clean primary keys,
    from the generator's manifest of dirty rows plus the source's foreign keys (orphans of
    quarantined parents are orphans too: they cascade)."""
    cfg = yaml.safe_load(SHIPPED.read_text())["tables"]
    with psycopg.connect(dsn) as conn:
        manifest = conn.execute(
            "SELECT table_name, rule, pk FROM lakehouse_seed.dirty_rows WHERE schema_name = %s", (IT_SCHEMA,)
        ).fetchall()
        expected: dict[tuple[str, str], int] = {}
        quarantined: dict[str, set[int]] = {t: set() for t in cfg}
        for table, rule, pk in manifest:
            ours = GENERATOR_RULES.get((table, rule))
            if ours:
                expected[(table, ours)] = expected.get((table, ours), 0) + 1
                if ours not in ("email_well_formed", "email_present"):  # warnings keep the row
                    quarantined[table].add(pk)
        clean: dict[str, set[int]] = {}
        for table in FK_ORDER:
            spec = cfg[table]
            pk = spec["primary_key"][0]
            fks = spec["silver"].get("foreign_keys", {})
            cols = ", ".join([pk, *fks]) if fks else pk
            rows = conn.execute(f"SELECT {cols} FROM {IT_SCHEMA}.{table}").fetchall()
            ok = set()
            for row in rows:
                orphan = False
                for i, (col, parent) in enumerate(fks.items(), start=1):
                    if row[i] is not None and row[i] not in clean[parent]:
                        expected[(table, f"fk_{col}")] = expected.get((table, f"fk_{col}"), 0) + 1
                        orphan = True
                if not orphan and row[0] not in quarantined[table]:
                    ok.add(row[0])
            clean[table] = ok
    return expected, clean


def test_silver_quarantine_and_counts_match_generator_dirt(first, spark, source_dsn) -> None:
    expected, clean = _expected_quality(source_dsn)
    dq = read_silver(spark, first.lake, "dq_results").where(F.col("run_id") == first.run_id).collect()
    got = {(r["table_name"], r["rule"]): r["failed_rows"] for r in dq if r["rule"] != "_table"}
    for key, n in got.items():
        assert n == expected.get(key, 0), (key, n, expected.get(key, 0))
    assert set(expected) <= set(got)
    assert sum(expected.values()) > 0
    for table, ids in clean.items():
        silver = read_silver(spark, first.lake, table)
        pk = silver.columns[1] if silver.columns[0] == "customer_key" else silver.columns[0]
        keys = [r[0] for r in silver.select(pk).collect()]
        assert len(keys) == len(set(keys)), f"{table}: duplicated silver keys"
        assert set(keys) == ids, table
        q = read_silver(spark, first.lake, f"{table}_quarantine")
        for (t, rule), n in expected.items():
            if t == table and not rule.startswith("email_"):
                assert q.where(F.array_contains("_dq_failed_rules", rule)).count() == n, (table, rule)
        assert q.where(F.col("_batch_id") != first.run_id).count() == 0
    # trimmed, lower-cased, no padded names left
    products = read_silver(spark, first.lake, "products")
    assert products.where(F.col("product_name") != F.trim("product_name")).count() == 0
    scores = {r["table_name"]: r["dq_score"] for r in dq if r["rule"] == "_table"}
    assert scores["warehouses"] == 1.0 and 0 < scores["order_details"] < 1


def _raw_pii(dsn: str) -> set[str]:
    with psycopg.connect(dsn) as conn:
        rows = conn.execute(
            f"SELECT customer_name, email, phone FROM {IT_SCHEMA}.customers "
            f"UNION ALL SELECT supplier_name, email, contact_number FROM {IT_SCHEMA}.suppliers"
        ).fetchall()
    values: set[str] = set()
    for name, email, phone in rows:
        for v in (email, phone) + ((name,) if name and "Supplier" not in name else ()):
            if v:
                values |= {v, v.strip(), v.strip().lower()}
    return values


def test_no_clear_text_pii_in_silver_or_gold(first, spark, source_dsn) -> None:
    raw = _raw_pii(source_dsn)
    assert len(raw) > 100
    tables = [p for layer in ("inventory_silver", "inventory_gold") for p in (first.lake / layer).iterdir()]
    assert len(tables) >= 10 + 10 + 1 + 6
    for path in tables:
        df = spark.read.format("delta").load(str(path))
        strings = [f.name for f in df.schema.fields if f.dataType.simpleString() == "string"]
        for col in strings:
            values = {r[0] for r in df.select(col).distinct().collect() if r[0] is not None}
            leaked = values & raw
            assert not leaked, (path.name, col, sorted(leaked)[:3])
            assert not [v for v in values if "@" in v and "***@" not in v], (path.name, col)


def _clean_ids(clean: dict[str, set[int]]) -> dict[str, list[int]]:
    return {t: sorted(ids) for t, ids in clean.items()}


def test_gold_equals_sql_on_clean_source_rows(first, spark, source_dsn) -> None:
    _, clean = _expected_quality(source_dsn)
    ids = _clean_ids(clean)
    with psycopg.connect(source_dsn) as conn:
        daily = conn.execute(
            f"""SELECT o.order_date, p.category, round(sum(d.quantity * d.unit_price * (1 - d.discount)), 2),
                       sum(d.quantity), count(DISTINCT o.order_id)
                FROM {IT_SCHEMA}.order_details d JOIN {IT_SCHEMA}.orders o ON o.order_id = d.order_id
                JOIN {IT_SCHEMA}.products p ON p.product_id = d.product_id
                WHERE d.order_detail_id = ANY(%(d)s) AND o.order_id = ANY(%(o)s) AND p.product_id = ANY(%(p)s)
                  AND o.status <> 'CANCELLED'
                GROUP BY 1, 2""",
            {"d": ids["order_details"], "o": ids["orders"], "p": ids["products"]},
        ).fetchall()
        returns = conn.execute(
            f"""WITH sold AS (
                  SELECT d.product_id, sum(d.quantity) AS units_sold
                  FROM {IT_SCHEMA}.order_details d JOIN {IT_SCHEMA}.orders o ON o.order_id = d.order_id
                  WHERE d.order_detail_id = ANY(%(d)s) AND o.order_id = ANY(%(o)s) AND o.status <> 'CANCELLED'
                  GROUP BY 1)
                SELECT p.sku, r.reason, count(*), sum(r.quantity), round(sum(r.refund_amount), 2), max(s.units_sold),
                       sum(r.quantity)::numeric / max(s.units_sold)
                FROM {IT_SCHEMA}.returns r JOIN {IT_SCHEMA}.products p ON p.product_id = r.product_id
                LEFT JOIN sold s ON s.product_id = r.product_id
                WHERE r.return_id = ANY(%(r)s) AND p.product_id = ANY(%(p)s)
                GROUP BY 1, 2""",
            {"d": ids["order_details"], "o": ids["orders"], "p": ids["products"], "r": ids["returns"]},
        ).fetchall()
    gold_daily = [tuple(r) for r in read_gold(spark, first.lake, "daily_sales").collect()]
    assert len(daily) > 50
    assert sorted(gold_daily) == sorted(tuple(r) for r in daily)
    gold_returns = {(r[0], r[1]): tuple(r) for r in read_gold(spark, first.lake, "returns_by_reason").collect()}
    assert len(returns) > 10 and set(gold_returns) == {(r[0], r[1]) for r in returns}
    for sku, reason, n, units, refund, sold, rate in returns:
        g = gold_returns[(sku, reason)]
        assert g[2:6] == (n, units, refund, sold), (sku, reason)
        assert rate is None or abs(float(g[6]) - float(rate)) <= 0.00005 + 1e-9
    summary = read_gold(spark, first.lake, "executive_summary")
    assert summary.count() > 0 and summary.where(F.col("dq_score").isNull()).count() == 0
    assert read_gold(spark, first.lake, "customer_summary").count() == len(clean["customers"])


def _near(got, want, tolerance: float) -> bool:
    """Decimal results rounded by two engines (Spark may round an intermediate double or decimal
    first): equal within one unit of the last kept digit; NULL only where the oracle is NULL."""
    if want is None or got is None:
        return got is None and want is None
    return abs(float(got) - float(want)) <= tolerance + 1e-9


def _rows_match(gold: dict, oracle: dict, exact: slice, approximate: dict[int, float], model: str) -> None:
    assert oracle and set(gold) == set(oracle), (model, len(gold), len(oracle))
    for key, want in oracle.items():
        got = gold[key]
        assert got[exact] == want[exact], (model, key, got, want)
        for i, tolerance in approximate.items():
            assert _near(got[i], want[i], tolerance), (model, key, i, got[i], want[i])


def test_the_other_four_gold_models_equal_sql_in_postgresql(first, stack, spark, source_dsn) -> None:
    """customer_summary, supplier_performance, inventory_health and executive_summary, each computed
    again in PostgreSQL over the source rows that passed the data-quality rules (strings trimmed as
    silver trims them), compared row by row by key and content."""
    _, clean = _expected_quality(source_dsn)
    ids = _clean_ids(clean)
    s = IT_SCHEMA
    v = {  # the clean rows of each source table, as silver holds them
        t: f"(SELECT * FROM {s}.{t} WHERE {pk} = ANY(%({t})s))"
        for t, pk in [("customers", "customer_id"), ("orders", "order_id"), ("returns", "return_id"),
                      ("suppliers", "supplier_id"), ("products", "product_id"), ("shipments", "shipment_id"),
                      ("order_details", "order_detail_id"), ("inventory", "inventory_id"),
                      ("stock_levels", "stock_level_id")]
    }  # fmt: skip
    sold = f"""(SELECT o.* FROM {v["orders"]} o WHERE nullif(btrim(o.status), '') <> 'CANCELLED')"""
    with psycopg.connect(source_dsn) as conn:
        customers = conn.execute(
            f"""WITH o AS (SELECT customer_id, count(*) n, sum(total_amount) rev, min(order_date) f, max(order_date) l
                           FROM {sold} x GROUP BY 1),
                     r AS (SELECT o.customer_id, count(*) n, sum(r.refund_amount) ref
                           FROM {v["returns"]} r JOIN {v["orders"]} o ON o.order_id = r.order_id GROUP BY 1)
                SELECT c.customer_id, nullif(btrim(c.city), ''), nullif(btrim(c.country), ''), coalesce(o.n, 0),
                       round(coalesce(o.rev, 0), 2), coalesce(r.n, 0), round(coalesce(r.ref, 0), 2), o.f, o.l
                FROM {v["customers"]} c LEFT JOIN o ON o.customer_id = c.customer_id
                LEFT JOIN r ON r.customer_id = c.customer_id""",
            ids,
        ).fetchall()
        suppliers = conn.execute(
            f"""WITH so AS (SELECT DISTINCT p.supplier_id, d.order_id
                            FROM {v["order_details"]} d JOIN {v["products"]} p ON p.product_id = d.product_id)
                SELECT s.supplier_id, nullif(btrim(s.supplier_name), ''), nullif(btrim(s.country), ''),
                       count(sh.shipment_id), round(avg(sh.shipment_date - o.order_date), 2),
                       round(avg(sh.delivery_date - sh.shipment_date), 2), round(avg(sh.delivery_date - o.order_date), 2),
                       round(avg(CASE WHEN sh.delivery_date IS NULL THEN NULL
                                      WHEN sh.delivery_date - o.order_date <= 7 THEN 1.0 ELSE 0.0 END), 4)
                FROM {v["suppliers"]} s LEFT JOIN so ON so.supplier_id = s.supplier_id
                LEFT JOIN {v["shipments"]} sh ON sh.order_id = so.order_id
                LEFT JOIN {v["orders"]} o ON o.order_id = sh.order_id
                GROUP BY 1, 2, 3""",
            ids,
        ).fetchall()
        health = conn.execute(
            f"""WITH h AS (SELECT product_id, warehouse_id, sum(quantity_available) q
                           FROM {v["inventory"]} i GROUP BY 1, 2),
                     t AS (SELECT DISTINCT ON (product_id, warehouse_id) product_id, warehouse_id, reorder_threshold,
                                  max_stock
                           FROM {v["stock_levels"]} x
                           ORDER BY product_id, warehouse_id, recorded_at DESC, stock_level_id DESC),
                     vel AS (SELECT d.product_id, sh.warehouse_id, sum(d.quantity) / 30.0 upd
                             FROM {v["order_details"]} d JOIN {sold} o ON o.order_id = d.order_id
                             JOIN {v["shipments"]} sh ON sh.order_id = d.order_id
                             WHERE o.order_date > %(day)s::date - 30 AND o.order_date <= %(day)s::date
                             GROUP BY 1, 2)
                SELECT h.product_id, h.warehouse_id, nullif(btrim(p.sku), ''), nullif(btrim(p.category), ''), h.q,
                       coalesce(t.reorder_threshold, p.reorder_level), t.max_stock,
                       h.q < coalesce(t.reorder_threshold, p.reorder_level), round(coalesce(vel.upd, 0), 4),
                       CASE WHEN vel.upd > 0 THEN round(greatest(h.q, 0) / vel.upd, 1) END
                FROM h JOIN {v["products"]} p ON p.product_id = h.product_id
                LEFT JOIN t ON t.product_id = h.product_id AND t.warehouse_id = h.warehouse_id
                LEFT JOIN vel ON vel.product_id = h.product_id AND vel.warehouse_id = h.warehouse_id""",
            {**ids, "day": DATE},
        ).fetchall()
        days = conn.execute(
            f"""WITH sales AS (SELECT o.order_date d, count(DISTINCT o.order_id) n,
                                      sum(x.quantity * x.unit_price * (1 - x.discount)) rev, sum(x.quantity) units
                               FROM {sold} o JOIN {v["order_details"]} x ON x.order_id = o.order_id GROUP BY 1),
                     rets AS (SELECT return_date d, count(*) n, sum(quantity) units FROM {v["returns"]} r GROUP BY 1),
                     outs AS (SELECT count(*) n FROM (SELECT sum(quantity_available) q FROM {v["inventory"]} i
                                                      GROUP BY product_id, warehouse_id) pairs WHERE q <= 0)
                SELECT coalesce(s.d, r.d), coalesce(s.n, 0), round(coalesce(s.rev, 0), 2), coalesce(s.units, 0),
                       coalesce(r.n, 0), coalesce(r.units, 0), outs.n, round(s.rev / s.n, 2),
                       round(r.units::numeric / s.units, 4)
                FROM sales s FULL JOIN rets r ON r.d = s.d CROSS JOIN outs""",
            ids,
        ).fetchall()
    key = json.loads(stack["AIRFLOW_CONN_PII_HASH_KEY"])["password"].encode()
    hashed = {hmac.new(key, str(r[0]).encode(), hashlib.sha256).hexdigest(): r for r in customers}
    gold = {r["customer_key"]: tuple(r)[1:] for r in read_gold(spark, first.lake, "customer_summary").collect()}
    _rows_match(gold, {k: r[1:] for k, r in hashed.items()}, slice(0, None), {}, "customer_summary")
    gold = {r[0]: tuple(r)[1:] for r in read_gold(spark, first.lake, "supplier_performance").collect()}
    # averages of day counts: Spark rounds a double, PostgreSQL an exact numeric
    _rows_match(
        gold,
        {r[0]: r[1:] for r in suppliers},
        slice(0, 3),
        {3: 0.01, 4: 0.01, 5: 0.01, 6: 0.0001},
        "supplier_performance",
    )
    frame = read_gold(spark, first.lake, "inventory_health")
    assert {r[0] for r in frame.select("as_of_date").distinct().collect()} == {dt.date.fromisoformat(DATE)}
    cols = ["product_id", "warehouse_id", "sku", "category", "quantity_on_hand", "reorder_threshold", "max_stock",
            "below_reorder", "units_per_day_30d", "days_of_cover"]  # fmt: skip
    gold = {(r[0], r[1]): tuple(r)[2:] for r in frame.select(*cols).collect()}
    oracle = {(r[0], r[1]): r[2:] for r in health}
    _rows_match(gold, oracle, slice(0, 6), {6: 0.0001, 7: 0.1}, "inventory_health")
    assert any(r[6] for r in oracle.values()) and any(r[7] for r in oracle.values())  # velocity seen, cover computed
    frame = read_gold(spark, first.lake, "executive_summary")
    cols = ["day", "orders", "revenue", "units_sold", "returns", "units_returned", "stock_outs",
            "average_order_value", "return_rate"]  # fmt: skip
    gold = {r[0]: tuple(r)[1:] for r in frame.select(*cols).collect()}
    _rows_match(gold, {r[0]: r[1:] for r in days}, slice(0, 6), {6: 0.01, 7: 0.0001}, "executive_summary")
    dq = read_silver(spark, first.lake, "dq_results").where(
        (F.col("run_id") == first.run_id) & (F.col("rule") == "_table")
    )
    scores = [float(r["dq_score"]) for r in dq.collect()]
    (score,) = {r[0] for r in frame.select("dq_score").distinct().collect()}
    assert len(scores) == 10 and _near(score, sum(scores) / len(scores), 0.0001)


def test_second_pipeline_from_config_only(stack, spark, source_dsn, tmp_path) -> None:
    """A new pipeline is a YAML file plus its gold SQL: built and run with no Python change."""
    fixtures = ROOT / "tests" / "fixtures" / "pipelines"
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS it_catalog CASCADE; CREATE SCHEMA it_catalog")
        for table in ("suppliers", "products"):
            conn.execute(f"CREATE TABLE it_catalog.{table} AS SELECT * FROM {IT_SCHEMA}.{table}")
        expected = conn.execute(
            f"""SELECT s.supplier_id, count(p.product_id) FROM {IT_SCHEMA}.suppliers s
                LEFT JOIN {IT_SCHEMA}.products p ON p.supplier_id = s.supplier_id
                  AND p.product_name IS NOT NULL AND p.unit_price >= 0
                GROUP BY 1"""
        ).fetchall()
    lake = tmp_path / "lake"
    result = dags_test(stack, fixtures, lake, "catalog_lakehouse")
    assert result.returncode == 0, result.stdout[-4000:]
    audit = spark.read.format("delta").load(str(lake / "catalog_bronze" / "bz_audit_log"))
    assert {(r["layer"], r["status"]) for r in audit.collect()} == {
        ("bronze", "SUCCESS"),
        ("silver", "SUCCESS"),
        ("gold", "SUCCESS"),
    }
    assert audit.count() == 2 + 2 + 1
    gold = spark.read.format("delta").load(str(lake / "catalog_gold" / "items_per_vendor"))
    assert sorted((r["supplier_id"], r["items"]) for r in gold.collect()) == sorted(expected)
    vendors = spark.read.format("delta").load(str(lake / "catalog_silver" / "vendors"))
    assert "email" not in vendors.columns and "email_hash" in vendors.columns
