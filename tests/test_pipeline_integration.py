"""The whole DAG through `airflow dags test` on real PostgreSQL + Spark + Delta (small scale)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pytest
import yaml
from conftest import IT_SCHEMA, ROOT, sh
from pyspark.sql import functions as F

from spark_jobs.lib.bronze import METADATA_COLUMNS

pytestmark = pytest.mark.integration
SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
DATE = "2026-11-20"


def _pipeline_dir(tmp: Path, name: str, mutate=None) -> Path:  # noqa: ANN001
    """The shipped pipeline pointed at the integration schema, with retries off (fast failures)."""
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["source"]["schema"] = IT_SCHEMA
    raw["retries"] = 0
    for model in raw["gold"]["models"].values():  # the copy lives elsewhere: keep its SQL reachable
        model["sql_file"] = str((SHIPPED.parent / model["sql_file"]).resolve())
    if mutate:
        mutate(raw)
    folder = tmp / "pipelines"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / f"{name}.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    return folder


def _dags_test(env: dict[str, str], pipelines: Path, lake: Path, dag_id: str, extra_env=None, args=()):  # noqa: ANN001
    run_env = {**env, "LAKEHOUSE_PIPELINES_DIR": str(pipelines), "LAKEHOUSE_ROOT": str(lake), **(extra_env or {})}
    return sh(["airflow", "dags", "test", *args, dag_id, DATE], env=run_env, check=False, timeout=1500)


def _source_counts(dsn: str) -> dict[str, int]:
    tables = yaml.safe_load(SHIPPED.read_text())["tables"]
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {IT_SCHEMA}.{t}").fetchone()[0] for t in tables}


def _audit(spark, lake: Path):  # noqa: ANN001
    return spark.read.format("delta").load(str(lake / "inventory_bronze" / "bz_audit_log"))


def _bronze(spark, lake: Path, table: str):  # noqa: ANN001
    return spark.read.format("delta").load(str(lake / "inventory_bronze" / f"bz_{table}"))


def _version(spark, lake: Path, table: str) -> int:  # noqa: ANN001
    path = lake / "inventory_bronze" / f"bz_{table}"
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").collect()[0]["version"]


def _runs(spark, lake: Path) -> list[str]:  # noqa: ANN001
    rows = _audit(spark, lake).groupBy("job_run_id").agg(F.min("load_timestamp").alias("t")).orderBy("t").collect()
    return [r["job_run_id"] for r in rows]


def _ti_states(env: dict[str, str], run_id: str) -> dict[str, str]:
    airflow_dsn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg.connect(airflow_dsn) as conn:
        rows = conn.execute("SELECT task_id, state FROM task_instance WHERE run_id = %s", (run_id,)).fetchall()
    return dict(rows)


@dataclass
class FirstRun:
    lake: Path
    pipelines: Path
    run_id: str
    counts: dict[str, int]
    output: str


@pytest.fixture(scope="module")
def first(stack, spark, source_dsn, tmp_path_factory) -> FirstRun:  # noqa: ANN001
    """One full run of the shipped pipeline (bronze, silver, gold) shared by the assertions below."""
    tmp = tmp_path_factory.mktemp("full")
    pipelines = _pipeline_dir(tmp, "inventory")
    result = _dags_test(stack, pipelines, tmp / "lake", "inventory_lakehouse")
    assert result.returncode == 0, result.stdout[-4000:]
    (run_id,) = _runs(spark, tmp / "lake")
    return FirstRun(tmp / "lake", pipelines, run_id, _source_counts(source_dsn), result.stdout + result.stderr)


def test_bronze_loaded_and_audited(first, spark) -> None:  # noqa: ANN001
    lake, run1, counts = first.lake, first.run_id, first.counts
    assert len(counts) == 10
    for table, n in counts.items():
        bronze = _bronze(spark, lake, table)
        assert bronze.count() == n, table
        assert bronze.where(F.col("_batch_id") != run1).count() == 0
        nulls = bronze.select([F.sum(F.col(c).isNull().cast("int")).alias(c) for c in METADATA_COLUMNS]).first()
        assert all(nulls[c] == 0 for c in METADATA_COLUMNS), (table, nulls)
        assert bronze.where(F.col("_logical_date") != F.lit(DATE).cast("date")).count() == 0
    audit1 = _audit(spark, lake).where((F.col("job_run_id") == run1) & (F.col("layer") == "bronze")).collect()
    assert sorted(r["source_table"] for r in audit1) == sorted(f"{IT_SCHEMA}.{t}" for t in counts)
    assert {r["status"] for r in audit1} == {"SUCCESS"}
    assert all(r["row_count"] == r["source_row_count"] == counts[r["source_table"].split(".")[1]] for r in audit1)
    layers = _audit(spark, lake).where(F.col("job_run_id") == run1).groupBy("layer", "status").count().collect()
    assert {(r["layer"], r["status"]): r["count"] for r in layers} == {
        ("bronze", "SUCCESS"): 10,
        ("silver", "SUCCESS"): 10,
        ("gold", "SUCCESS"): 6,
    }


def test_secrets_never_reach_logs_templates_or_xcom(first, stack, source_dsn) -> None:  # noqa: ANN001
    password = psycopg.conninfo.conninfo_to_dict(source_dsn)["password"]
    pii_key = json.loads(stack["AIRFLOW_CONN_PII_HASH_KEY"])["password"]
    logs = "".join(p.read_text(errors="ignore") for p in Path(stack["AIRFLOW_HOME"], "logs").rglob("*") if p.is_file())
    airflow_dsn = stack["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg.connect(airflow_dsn) as conn:
        rendered = conn.execute("SELECT rendered_fields::text FROM rendered_task_instance_fields").fetchall()
        xcoms = conn.execute("SELECT value::text FROM xcom").fetchall()
    assert rendered
    for secret in (password, pii_key):
        assert secret not in logs and secret not in first.output
        assert not any(secret in r[0] for r in rendered)
        assert not any(secret in (x[0] or "") for x in xcoms)


# generator rule (lakehouse_seed.dirty_rows) -> the silver rule that must catch exactly those rows
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


def _silver(spark, lake: Path, name: str):  # noqa: ANN001
    return spark.read.format("delta").load(str(lake / "inventory_silver" / name))


def _gold(spark, lake: Path, name: str):  # noqa: ANN001
    return spark.read.format("delta").load(str(lake / "inventory_gold" / name))


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


def test_silver_quarantine_and_counts_match_generator_dirt(first, spark, source_dsn) -> None:  # noqa: ANN001
    expected, clean = _expected_quality(source_dsn)
    dq = _silver(spark, first.lake, "dq_results").where(F.col("run_id") == first.run_id).collect()
    got = {(r["table_name"], r["rule"]): r["failed_rows"] for r in dq if r["rule"] != "_table"}
    for key, n in got.items():
        assert n == expected.get(key, 0), (key, n, expected.get(key, 0))
    assert set(expected) <= set(got)
    assert sum(expected.values()) > 0
    for table, ids in clean.items():
        silver = _silver(spark, first.lake, table)
        pk = silver.columns[1] if silver.columns[0] == "customer_key" else silver.columns[0]
        assert {r[0] for r in silver.select(pk).collect()} == ids, table
        q = _silver(spark, first.lake, f"{table}_quarantine")
        for (t, rule), n in expected.items():
            if t == table and not rule.startswith("email_"):
                assert q.where(F.array_contains("_dq_failed_rules", rule)).count() == n, (table, rule)
        assert q.where(F.col("_batch_id") != first.run_id).count() == 0
    # trimmed, lower-cased, no padded names left
    products = _silver(spark, first.lake, "products")
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


def test_no_clear_text_pii_in_silver_or_gold(first, spark, source_dsn) -> None:  # noqa: ANN001
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


def test_gold_equals_sql_on_clean_source_rows(first, spark, source_dsn) -> None:  # noqa: ANN001
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
    gold_daily = [tuple(r) for r in _gold(spark, first.lake, "daily_sales").collect()]
    assert len(daily) > 50
    assert sorted(gold_daily) == sorted(tuple(r) for r in daily)
    gold_returns = {(r[0], r[1]): tuple(r) for r in _gold(spark, first.lake, "returns_by_reason").collect()}
    assert len(returns) > 10 and set(gold_returns) == {(r[0], r[1]) for r in returns}
    for sku, reason, n, units, refund, sold, rate in returns:
        g = gold_returns[(sku, reason)]
        assert g[2:6] == (n, units, refund, sold), (sku, reason)
        assert rate is None or abs(float(g[6]) - float(rate)) <= 0.00005 + 1e-9
    summary = _gold(spark, first.lake, "executive_summary")
    assert summary.where(F.col("dq_score").isNull()).count() == 0
    assert _gold(spark, first.lake, "customer_summary").count() == len(clean["customers"])


def _snapshot(spark, lake: Path) -> dict[str, list]:  # noqa: ANN001
    """Full contents of every silver and gold table (quarantine: the first batch's slice)."""
    out = {}
    for layer in ("inventory_silver", "inventory_gold"):
        for path in sorted((lake / layer).iterdir()):
            if path.name == "dq_results":
                continue
            df = spark.read.format("delta").load(str(path))
            if path.name.endswith("_quarantine"):
                df = df.where(F.col("_batch_id") == _runs(spark, lake)[0])
            out[f"{layer}.{path.name}"] = sorted(df.collect())
    return out


def test_rerun_with_missing_table_fails_alone_blocks_dependants_changes_nothing(first, stack, spark, source_dsn):  # noqa: ANN001
    """Second full run with `returns` gone from the source: the other nine reload, returns fails and
    blocks only what reads it, and silver and gold end identical (a rerun with the same source data
    changes nothing; the blocked tables keep their previous state)."""
    lake, counts = first.lake, first.counts
    snapshot = _snapshot(spark, lake)
    before = {t: _version(spark, lake, t) for t in counts}
    returns_before = _bronze(spark, lake, "returns").collect()
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(f"ALTER TABLE {IT_SCHEMA}.returns RENAME TO returns_hidden")
    try:
        second = _dags_test(stack, first.pipelines, lake, "inventory_lakehouse")
    finally:
        with psycopg.connect(source_dsn, autocommit=True) as conn:
            conn.execute(f"ALTER TABLE {IT_SCHEMA}.returns_hidden RENAME TO returns")
    assert second.returncode != 0, "a run with a failed table must end failed"
    run2 = _runs(spark, lake)[-1]
    audit2 = _audit(spark, lake).where((F.col("job_run_id") == run2) & (F.col("layer") == "bronze")).collect()
    audit2 = {r["source_table"].split(".")[1]: r for r in audit2}
    assert len(audit2) == 10
    assert audit2["returns"]["status"] == "FAILED"
    assert "check 'table exists' failed" in audit2["returns"]["error_details"]
    for table, n in counts.items():
        if table == "returns":
            assert _version(spark, lake, table) == before[table]
            assert _bronze(spark, lake, table).collect() == returns_before
            continue
        assert audit2[table]["status"] == "SUCCESS", (table, audit2[table]["error_details"])
        assert _bronze(spark, lake, table).count() == n  # rerun: same counts, no duplicates
        assert _version(spark, lake, table) == before[table] + 1
    states = _ti_states(stack, run2)
    blocked = {"inventory_silver.returns", "inventory_gold.returns_by_reason", "inventory_gold.customer_summary",
               "inventory_gold.executive_summary"}  # fmt: skip
    assert states["returns.validate_connection"] == "failed" and states["returns.audit"] == "failed"
    assert {t for t in blocked if states[t] == "upstream_failed"} == blocked
    others = [t for t in states if t.startswith(("inventory_silver.", "inventory_gold.")) and t not in blocked]
    assert len(others) == 12 and all(states[t] == "success" for t in others), states
    assert _snapshot(spark, lake) == snapshot


def _bad_input_dir(tmp: Path) -> Path:
    def one_table(dag_id: str, conn_id: str, source: str, table: str = "warehouses"):  # noqa: ANN202
        def mutate(raw: dict) -> None:
            raw["dag_id"] = dag_id
            raw["source"]["conn_id"] = conn_id
            spec = raw["tables"][table]
            spec["source"] = source
            raw["tables"] = {table: spec}
            raw["gold"] = {"models": {}}

        return mutate

    _pipeline_dir(tmp, "auth", one_table("it_bad_auth", "bad_password_source", "warehouses"))
    _pipeline_dir(tmp, "host", one_table("it_bad_host", "unreachable_source", "warehouses"))
    _pipeline_dir(tmp, "missing", one_table("it_missing", "inventory_source", "no_such_table"))
    return _pipeline_dir(tmp, "empty", one_table("it_empty", "inventory_source", "empty_warehouses"))


@pytest.mark.parametrize(
    ("dag_id", "message"),
    [
        ("it_bad_auth", "check 'connect' failed for connection 'bad_password_source': "),
        ("it_bad_host", "check 'connect' failed for connection 'unreachable_source': "),
        ("it_missing", "check 'table exists' failed: it_src.no_such_table not found"),
        ("it_empty", "check 'not empty' failed: it_src.empty_warehouses has no rows"),
    ],
)
def test_bad_input_gives_clear_error_audit_row_and_no_table(stack, spark, source_dsn, tmp_path, dag_id, message):  # noqa: ANN001
    lake = tmp_path / "lake"
    with psycopg.connect(source_dsn, autocommit=True) as conn:
        conn.execute(f"CREATE TABLE IF NOT EXISTS {IT_SCHEMA}.empty_warehouses (LIKE {IT_SCHEMA}.warehouses)")
    good = psycopg.conninfo.conninfo_to_dict(source_dsn)
    wrong = f"postgresql://{good['user']}:not-the-password@{good['host']}:{good['port']}/{good['dbname']}"
    extra = {
        "AIRFLOW_CONN_BAD_PASSWORD_SOURCE": wrong,
        "AIRFLOW_CONN_UNREACHABLE_SOURCE": f"postgresql://u:secret-unused@127.0.0.1:1/{good['dbname']}",
    }
    try:
        result = _dags_test(stack, _bad_input_dir(tmp_path), lake, dag_id, extra)
    finally:
        with psycopg.connect(source_dsn, autocommit=True) as conn:
            conn.execute(f"DROP TABLE IF EXISTS {IT_SCHEMA}.empty_warehouses")
    assert result.returncode != 0
    (row,) = _audit(spark, lake).collect()
    assert row["status"] == "FAILED"
    assert message in row["error_details"]
    if dag_id == "it_bad_auth":
        assert "password authentication failed" in row["error_details"]
    assert "not-the-password" not in row["error_details"]
    assert not (lake / "inventory_bronze" / "bz_warehouses").exists()


def test_second_pipeline_from_config_only(stack, spark, source_dsn, tmp_path) -> None:  # noqa: ANN001
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
    result = _dags_test(stack, fixtures, lake, "catalog_lakehouse")
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
