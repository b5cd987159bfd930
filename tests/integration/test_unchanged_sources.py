"""Full tables whose inputs did not change cost no reload, and give the tables a rebuild gives.

The source schema ``it_same`` is seeded like ``it_src`` (same scale factor and seed), so a copy of
the shared full run's lakehouse is its first load. The four full tables then run again on the
unchanged source, after one supplier changed, and with an edited expectation -- in process (the
DAG's own task specs and arguments, tests/support/inprocess.py) -- and each state is compared with
what a forced reload (``params.mode=full``) of the same source gives, and with PostgreSQL.
"""

from __future__ import annotations

from pathlib import Path

import psycopg
import pytest
from pyspark.sql import functions as F

from lakehouse_airflow.config import PipelineConfig, load_pipeline
from seed.load import current_seed
from support.dagrun import LOAD_STAMPS, PER_RUN, lake_copy, pipeline_dir
from support.env import IT_SCHEMA, IT_SF, sh
from support.inprocess import Run, run_pipeline

SCHEMA = "it_same"
FULL = ("products", "suppliers", "warehouses", "customers")
DQ_RESULT = ("table_name", "rule", "action", "failed_rows", "total_rows", "dq_score", "bronze_batch_id")


def _cfg(tmp: Path, name: str, mutate=None) -> PipelineConfig:
    def edit(raw: dict) -> None:
        raw["source"]["schema"] = SCHEMA
        if mutate:
            mutate(raw)

    return load_pipeline(pipeline_dir(tmp / name, "inventory", edit) / "inventory.yaml")


def _version(spark, path: Path) -> int:
    return spark.sql(f"DESCRIBE HISTORY delta.`{path}` LIMIT 1").first()["version"]


def _paths(lake: Path, table: str) -> dict[str, Path]:
    return {
        "bronze": lake / "inventory_bronze" / f"bz_{table}",
        "silver": lake / "inventory_silver" / table,
        "quarantine": lake / "inventory_silver" / f"{table}_quarantine",
    }


def _versions(spark, lake: Path) -> dict[tuple[str, str], int]:
    return {(t, kind): _version(spark, p) for t in FULL for kind, p in _paths(lake, t).items() if p.is_dir()}


def _tables(spark, lake: Path) -> dict[str, list]:
    """The four tables' bronze, silver and quarantine (the slice of the batch bronze holds: a full
    table's quarantine keeps each batch's), without who loaded a row or when."""
    out = {}
    for t in FULL:
        paths = _paths(lake, t)
        (batch,) = {r[0] for r in spark.read.format("delta").load(str(paths["bronze"])).select("_batch_id").collect()}
        for kind, path in paths.items():
            df = spark.read.format("delta").load(str(path))
            df = df.where(F.col("_batch_id") == batch) if kind == "quarantine" else df
            out[f"{t}.{kind}"] = sorted(map(tuple, df.drop(*(LOAD_STAMPS | PER_RUN)).collect()), key=repr)
    return out


def _audit(spark, lake: Path, run_id: str) -> dict[tuple[str, str], tuple]:
    audit = spark.read.format("delta").load(str(lake / "inventory_bronze" / "bz_audit_log"))
    found = audit.where(F.col("job_run_id") == run_id).collect()
    return {(r["target_table"].rsplit(".", 1)[-1], r["layer"]): (r["status"], r["load_mode"], r["row_count"])
            for r in found}  # fmt: skip


def _dq(spark, lake: Path, run_id: str) -> list[tuple]:
    dq = spark.read.format("delta").load(str(lake / "inventory_silver" / "dq_results"))
    return sorted(tuple(r) for r in dq.where(F.col("run_id") == run_id).select(*DQ_RESULT).collect())


def _source_counts(dsn: str) -> dict[str, int]:
    with psycopg.connect(dsn) as conn:
        return {t: conn.execute(f"SELECT count(*) FROM {SCHEMA}.{t}").fetchone()[0] for t in FULL}


@pytest.fixture(scope="module")
def source(first, stack) -> str:
    sh(["python", "-m", "seed", "--schema", SCHEMA, "--sf", str(IT_SF), "--force"], env=stack)
    dsn = stack["AIRFLOW_CONN_INVENTORY_SOURCE"]
    with psycopg.connect(dsn) as conn:  # same rows as it_src: the shared run is this source's first load
        assert current_seed(conn, SCHEMA) == current_seed(conn, IT_SCHEMA)
    return dsn


def test_unchanged_full_tables_are_neither_reloaded_nor_rebuilt_and_equal_a_forced_reload(
    first, source, spark, tmp_path
) -> None:
    cfg = _cfg(tmp_path, "p")
    lake = lake_copy(first.lake, tmp_path / "lake")
    versions, before = _versions(spark, lake), _tables(spark, lake)
    counts = _source_counts(source)

    # the same source again: no bronze, silver or quarantine commit; the audit still reconciles
    quiet = Run("2026-11-21", "scheduled__2026-11-21", FULL)
    run_pipeline(cfg, quiet, lake, ("bronze", "silver"))
    assert _versions(spark, lake) == versions
    assert _tables(spark, lake) == before
    audit = _audit(spark, lake, quiet.run_id)
    for t in FULL:
        assert audit[(f"bz_{t}", "bronze")] == ("SUCCESS", "unchanged", counts[t]), t
        assert audit[(t, "silver")][:2] == ("SUCCESS", "unchanged"), t
    # this run's DQ results are the build's, for the batch bronze still holds
    built = [r for r in _dq(spark, lake, first.run_id) if r[0] in FULL]
    assert _dq(spark, lake, quiet.run_id) == built and {r[-1] for r in built} == {first.run_id}

    # one supplier renamed at the source: suppliers reloads and rebuilds; products, whose
    # foreign-key rule reads silver suppliers, rebuilds; warehouses and customers stay
    with psycopg.connect(source) as conn:
        supplier = conn.execute(f"SELECT min(supplier_id) FROM {SCHEMA}.suppliers").fetchone()[0]
        conn.execute(f"UPDATE {SCHEMA}.suppliers SET supplier_name = 'Renamed Supplier' WHERE supplier_id = %s",
                     (supplier,))  # fmt: skip
    changed = Run("2026-11-22", "scheduled__2026-11-22", FULL)
    run_pipeline(cfg, changed, lake, ("bronze", "silver"))
    audit = _audit(spark, lake, changed.run_id)
    assert audit[("bz_suppliers", "bronze")] == ("SUCCESS", "full", counts["suppliers"])
    assert {t: audit[(t, "silver")][1] for t in FULL} == {
        "products": "full", "suppliers": "full", "warehouses": "unchanged", "customers": "unchanged"
    }  # fmt: skip
    now = _versions(spark, lake)
    assert now[("suppliers", "bronze")] == versions[("suppliers", "bronze")] + 1
    stayed = [k for k in versions if k[0] in ("warehouses", "customers")] + [("products", "bronze")]
    assert {k: now[k] for k in stayed} == {k: versions[k] for k in stayed}
    silver = spark.read.format("delta").load(str(_paths(lake, "suppliers")["silver"]))
    assert silver.where(F.col("supplier_id") == supplier).first()["supplier_name"] == "Renamed Supplier"
    bronze = spark.read.format("delta").load(str(_paths(lake, "suppliers")["bronze"]))
    assert {r[0] for r in bronze.select("_batch_id").distinct().collect()} == {changed.run_id}

    # the oracle: a forced reload of the same source (nothing skipped) gives the same tables
    kept = _tables(spark, lake)
    forced = lake_copy(lake, tmp_path / "forced")
    run_pipeline(cfg, Run("2026-11-22", "manual__2026-11-22", FULL, mode="full"), forced, ("bronze", "silver"))
    assert _tables(spark, forced) == kept
    assert {t: s[1] for (t, layer), s in _audit(spark, forced, "manual__2026-11-22").items()} == {
        **{f"bz_{t}": "full" for t in FULL}, **{t: "full" for t in FULL}
    }  # fmt: skip

    # an edited expectation rebuilds warehouses' silver though its bronze did not change
    def stricter(raw: dict) -> None:
        raw["tables"]["warehouses"]["silver"]["expect_or_quarantine"]["capacity_not_negative"] = "capacity >= 50000"

    edited = Run("2026-11-23", "scheduled__2026-11-23", ("warehouses",))
    run_pipeline(_cfg(tmp_path, "edited", stricter), edited, lake, ("bronze", "silver"))
    audit = _audit(spark, lake, edited.run_id)
    assert audit[("bz_warehouses", "bronze")][1] == "unchanged" and audit[("warehouses", "silver")][1] == "full"
    with psycopg.connect(source) as conn:
        small = {r[0] for r in conn.execute(f"SELECT warehouse_id FROM {SCHEMA}.warehouses WHERE capacity < 50000")}
    quarantined = spark.read.format("delta").load(str(_paths(lake, "warehouses")["quarantine"]))
    assert small and small <= {r[0] for r in quarantined.select("warehouse_id").collect()}
    kept = spark.read.format("delta").load(str(_paths(lake, "warehouses")["silver"]))
    assert not small & {r[0] for r in kept.select("warehouse_id").collect()}
