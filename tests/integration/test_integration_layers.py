"""Silver and gold on the shared full run: DQ vs the generator's dirt, PII, gold vs PostgreSQL;
and a second, config-only pipeline."""

from __future__ import annotations

import psycopg
import yaml
from pyspark.sql import functions as F

from support.dagrun import (
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
        assert {r[0] for r in silver.select(pk).collect()} == ids, table
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
