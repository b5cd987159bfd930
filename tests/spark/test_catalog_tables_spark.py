"""Catalog tables (``--catalog``, Unity Catalog names ``<catalog>.<schema>.<table>`` on Databricks)
on the real local Spark: the same jobs write and read tables by name in the Spark server's session
catalog, with the same exactly-once behaviour as path-based tables."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from test_bronze_spark import WAREHOUSES

from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.describe.pipeline import silver_spec
from lakehouse_contract.naming import Location, Schemas
from spark_jobs.jobs import dispatch
from spark_jobs.storage.tables import TableLocation, bronze_table, silver_table
from support.env import ROOT
from support.specs import job_argv, table_specs

CATALOG = "spark_catalog"  # the local server's session catalog stands in for Unity Catalog


@pytest.fixture
def schemas(spark) -> Iterator[dict[str, str]]:
    tag = uuid.uuid4().hex[:8]
    names = {layer: f"uc_{tag}_{layer}" for layer in ("bronze", "silver", "gold")}
    yield names
    for name in names.values():
        spark.sql(f"DROP SCHEMA IF EXISTS {CATALOG}.{name} CASCADE")


def _where(tmp_path: Path, schemas: dict[str, str]) -> Location:
    return Location(str(tmp_path), Schemas(schemas["bronze"], schemas["silver"], schemas["gold"]), CATALOG)


def test_jobs_write_and_read_catalog_tables_by_name(spark, stack, tmp_path, monkeypatch, schemas) -> None:
    from lakehouse_airflow.operators.secrets import jdbc_env

    for k, v in jdbc_env("inventory_source").items():
        monkeypatch.setenv(k, v)
    where = _where(tmp_path, schemas)
    specs = table_specs("warehouses", str(tmp_path), columns=WAREHOUSES, location=where)
    assert dispatch(job_argv(specs["validate_connection"], "r1")) == 0
    assert dispatch(job_argv(specs["extract"], "r1")) == 0
    write = job_argv(specs["write_bronze"], "r1")
    assert dispatch(write) == 0
    assert dispatch(write) == 0  # a retry of the same run: the same slice, no duplicates
    states = "validate_connection=success,extract=success,write_bronze=success"
    assert dispatch(job_argv(specs["audit"], "r1", upstream_states=states)) == 0
    cfg = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")
    spec = replace(silver_spec(cfg, cfg.tables["warehouses"]), dag_id="t", location=where)
    assert dispatch(job_argv(spec, "r1")) == 0

    bronze, silver = schemas["bronze"], schemas["silver"]
    for name in (
        f"{bronze}.bz_warehouses",
        f"{bronze}.bz_audit_log",
        f"{bronze}.bz_watermarks",
        f"{silver}.warehouses",
    ):
        assert spark.catalog.tableExists(f"{CATALOG}.{name}"), name
    assert spark.table(f"{CATALOG}.{bronze}.bz_warehouses").count() == 5
    assert {r["_batch_id"] for r in spark.table(f"{CATALOG}.{bronze}.bz_warehouses").collect()} == {"r1"}
    audit_rows = {r["layer"]: r for r in spark.table(f"{CATALOG}.{bronze}.bz_audit_log").collect()}
    assert set(audit_rows) == {"bronze", "silver"}  # one row per layer step, in the catalog's audit log
    row = audit_rows["bronze"]
    assert (row["status"], row["row_count"], row["source_row_count"]) == ("SUCCESS", 5, 5)
    assert audit_rows["silver"]["status"] == "SUCCESS"
    clean = spark.table(f"{CATALOG}.{silver}.warehouses").count()
    assert 0 < clean <= 5
    # the tables are the catalog's, not directories under the lakehouse root (which keeps only
    # landing files and step results)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["_control", "landing"]
    loc = TableLocation(str(tmp_path), CATALOG)
    ref = bronze_table(loc, bronze, "warehouses")
    assert ref.exists() and ref.sql_name == f"`{CATALOG}`.`{bronze}`.`bz_warehouses`"
    assert not bronze_table(str(tmp_path), bronze, "warehouses").exists()  # path-based: nothing there
    assert silver_table(loc, silver, "warehouses").read(spark).count() == clean


def test_validate_job_names_the_failed_check(spark, stack, tmp_path, monkeypatch, schemas) -> None:
    from lakehouse_airflow.operators.secrets import jdbc_env

    for k, v in jdbc_env("inventory_source").items():
        monkeypatch.setenv(k, v)
    where = _where(tmp_path, schemas)
    wider = table_specs("warehouses", str(tmp_path), columns={**WAREHOUSES, "manager": "string"}, location=where)
    with pytest.raises(
        Exception, match=r"check 'contract columns' failed: it_src.warehouses lacks columns \['manager'\]"
    ):
        dispatch(job_argv(wider["validate_connection"], "r1"))
    missing = table_specs("warehouses", str(tmp_path), columns=WAREHOUSES, location=where, source="it_src.nope")
    with pytest.raises(Exception, match="check 'table exists' failed: it_src.nope not found"):
        dispatch(job_argv(missing["validate_connection"], "r1"))
    result = json.loads((tmp_path / "_control/step_results/t/r1/warehouses/validate_connection.json").read_text())
    assert result["status"] == "FAILED" and "table exists" in result["error"]
