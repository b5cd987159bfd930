"""Silver against the real source: values through JDBC, bronze and silver byte for byte, and the
silver job's own commits (DQ results, quarantine, silver) checked against SQL on PostgreSQL."""

from __future__ import annotations

import hashlib
import hmac
from decimal import Decimal

import pytest
from pyspark.sql import functions as F

from lakehouse_contract.naming import Location
from lakehouse_contract.specs import Rule
from spark_jobs.runtime.errors import ExpectationFailedError
from spark_jobs.storage.tables import TableRef
from spark_jobs.transforms.dq import (
    FAILED_RULES,
    count_failures,
    split,
    with_outcome,
    with_rule_flags,
)
from spark_jobs.transforms.pii import hmac_sha256, mask
from spark_jobs.transforms.silver import dedupe_latest, standardize

KEY = b"test-key-not-a-secret"


def test_unicode_long_strings_and_an_oversized_decimal_through_jdbc_bronze_and_silver(
    spark, stack, tmp_path, monkeypatch
) -> None:
    """Text in any script and 100,000 characters long arrives byte for byte through JDBC, bronze,
    silver's trimming, HMAC and masking; a source decimal over the contract's precision (the source
    column widened to numeric(20,2), which the drift check accepts) quarantines its row under
    ``unit_price_fits_contract`` instead of failing the table or becoming a silent NULL."""
    import psycopg

    from lakehouse_airflow.config import load_pipeline
    from lakehouse_airflow.describe.pipeline import silver_spec
    from lakehouse_airflow.operators.secrets import jdbc_env
    from lakehouse_contract.naming import fits_rule
    from spark_jobs.jobs import dispatch
    from support.env import ROOT
    from support.specs import job_argv, table_specs

    for k, v in jdbc_env("inventory_source").items():
        monkeypatch.setenv(k, v)
    names = {101: "  Ærøskøbing 東京 🚲 naïve  ", 102: "عربي עברית e\u0301 \u00a0x", 103: "ü" * 100_000 + "🙂"}
    with psycopg.connect(stack["AIRFLOW_CONN_INVENTORY_SOURCE"], autocommit=True) as conn:
        conn.execute("DROP SCHEMA IF EXISTS it_text CASCADE; CREATE SCHEMA it_text")
        conn.execute("CREATE TABLE it_text.products AS SELECT * FROM it_src.products WHERE product_id <= 2")
        conn.execute("ALTER TABLE it_text.products ALTER COLUMN unit_price TYPE numeric(20, 2)")
        insert = (
            "INSERT INTO it_text.products SELECT %s, %s, category, sku, %s, supplier_id, reorder_level, updated_at "
        )
        insert += "FROM it_src.products WHERE product_id = 1"
        for pid, name in names.items():
            conn.execute(insert, (pid, name, Decimal("9.99")))
        conn.execute(insert, (104, "too dear", Decimal("123456789012345.67")))  # 15 digits before the point
    specs = table_specs("products", str(tmp_path), source="it_text.products", load_mode="full")
    assert dispatch(job_argv(specs["extract"], "r1")) == 0
    assert dispatch(job_argv(specs["write_bronze"], "r1")) == 0
    bronze = spark.read.format("delta").load(str(tmp_path / "inventory_bronze" / "bz_products"))
    got = {r["product_id"]: r["product_name"] for r in bronze.collect()}
    assert {pid: got[pid] for pid in names} == names  # byte for byte, padding included

    cfg = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")
    spec = silver_spec(cfg, cfg.tables["products"])
    rules = tuple(r for r in spec.rules if not r.fk_column)
    assert fits_rule("unit_price") in {r.name for r in rules}
    flagged = with_rule_flags(dedupe_latest(standardize(bronze, spec), spec.primary_key), rules, {})
    keep, quarantine = split(with_outcome(flagged, rules))
    kept = {r["product_id"]: r for r in keep.collect()}
    assert {pid: kept[pid]["product_name"] for pid in names} == {pid: n.strip() for pid, n in names.items()}
    (dear,) = quarantine.collect()
    assert dear["product_id"] == 104 and list(dear[FAILED_RULES]) == ["unit_price_fits_contract"]
    assert dear["unit_price"] is None  # the value stays in bronze; the rule says why it is not in silver
    counts = count_failures(flagged, rules)
    assert counts.per_rule["unit_price_fits_contract"] == 1 and counts.quarantined == 1

    texts = spark.createDataFrame([(n.strip(),) for n in names.values()], "v string")
    hashed = [r[0] for r in texts.select(hmac_sha256(F.col("v"), KEY)).collect()]
    assert hashed == [hmac.new(KEY, n.strip().encode(), hashlib.sha256).hexdigest() for n in names.values()]
    masked = [r[0] for r in texts.select(mask(F.col("v"), "name")).collect()]
    assert masked[0] == "Æ*** 東*** 🚲*** n***" and masked[2] == "ü***"


def test_silver_job_commits_its_three_tables_and_a_broken_expect_or_fail_rule_only_its_dq_results(
    spark, stack, tmp_path, monkeypatch
) -> None:
    """The silver job writes its DQ results, then the quarantine and silver side by side: after a run
    each holds exactly its rows (oracle: SQL on the source). A run whose ``expect_or_fail`` rule
    breaks records its DQ results and leaves silver and the quarantine at their versions."""
    from dataclasses import replace

    import psycopg

    from lakehouse_airflow.config import load_pipeline
    from lakehouse_airflow.describe.pipeline import silver_spec
    from lakehouse_airflow.operators.secrets import jdbc_env
    from lakehouse_contract import naming
    from lakehouse_contract.naming import Schemas
    from spark_jobs.jobs import dispatch
    from support.env import ROOT
    from support.specs import job_argv, table_specs

    for k, v in jdbc_env("inventory_source").items():
        monkeypatch.setenv(k, v)
    root = str(tmp_path / "lake")
    specs = table_specs("products", root, load_mode="full")
    assert dispatch(job_argv(specs["extract"], "r1")) == 0
    assert dispatch(job_argv(specs["write_bronze"], "r1")) == 0
    cfg = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")
    cheap = Rule("price_at_least_10", "expect_or_quarantine", "unit_price >= 10")
    spec = replace(silver_spec(cfg, cfg.tables["products"]), dag_id="t", location=Location(root), rules=(cheap,))
    with psycopg.connect(stack["AIRFLOW_CONN_INVENTORY_SOURCE"]) as conn:
        rows = conn.execute("SELECT product_id, unit_price FROM it_src.products").fetchall()
    valid = {pid: price for pid, price in rows if price >= 10}
    cheap_ids = {pid for pid, price in rows if price < 10}
    assert valid and cheap_ids  # the rule splits the table

    def read(name: naming.TableName) -> TableRef:
        return TableRef(name.schema, name.name, root)

    silver, quarantine = read(naming.silver(Schemas(), "products")), read(naming.quarantine(Schemas(), "products"))
    dq = read(naming.dq_results(Schemas()))
    assert dispatch(job_argv(spec, "r1")) == 0
    assert {r["product_id"]: r["unit_price"] for r in silver.read(spark).collect()} == valid
    assert {r["product_id"] for r in quarantine.read(spark).collect()} == cheap_ids
    got = {r["rule"]: r["failed_rows"] for r in dq.read(spark).where("run_id = 'r1'").collect()}
    assert got == {"price_at_least_10": len(cheap_ids), "_table": len(cheap_ids), "_duplicate_keys": 0}

    versions = silver.latest_version(spark), quarantine.latest_version(spark)
    strict = replace(spec, rules=(cheap, Rule("id_small", "expect_or_fail", "product_id < 3")))
    with pytest.raises(ExpectationFailedError, match=r"id_small \(\d+ rows\)"):
        dispatch(job_argv(strict, "r2"))
    assert (silver.latest_version(spark), quarantine.latest_version(spark)) == versions
    got = {r["rule"]: r["failed_rows"] for r in dq.read(spark).where("run_id = 'r2'").collect()}
    assert got["id_small"] == sum(1 for pid, _ in rows if pid >= 3)
