"""Every table the pipeline writes opens in a Delta kernel reader (DuckDB's ``delta`` extension),
with the rows Spark sees: the lakehouse is usable by DuckDB, Polars, delta-rs and BI tools."""

from __future__ import annotations

from lakehouse_airflow.config import load_pipeline
from lakehouse_contract import naming
from support import kernel
from support.env import ROOT

CFG = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")


def test_every_table_of_a_run_reads_in_duckdb_with_the_rows_spark_reads(first, spark) -> None:
    con = kernel.connect()
    tables = kernel.delta_tables(first.lake)
    names = {f"{t.parent.name}.{t.name}" for t in tables}
    schemas = naming.Schemas()
    expected = {str(naming.bronze(schemas, t)) for t in CFG.tables} | {
        str(naming.silver(schemas, t)) for t in CFG.tables
    }
    expected |= {str(naming.quarantine(schemas, t)) for t in CFG.tables} | {
        str(naming.gold(schemas, m)) for m in CFG.gold.models
    }
    expected |= {str(n) for n in naming.control_tables(schemas)} - {str(naming.maintenance_log(schemas))}
    assert names == expected  # the whole run: 10 bronze, 10 silver, 10 quarantine, 6 gold, 3 control
    for path in tables:
        frame = spark.read.format("delta").load(str(path))
        duck = con.execute(f"SELECT count(*) FROM delta_scan('{path}')").fetchone()[0]
        assert duck == frame.count(), path
    # by key and content for the silver tables: the same rows (hashes cover every business column)
    for table in CFG.silver_tables():
        path = first.lake / schemas.silver / table.name
        keys = ", ".join(table.primary_key)
        duck = con.execute(f"SELECT {keys}, _row_hash FROM delta_scan('{path}') ORDER BY {keys}").fetchall()
        rows = spark.read.format("delta").load(str(path)).select(*table.primary_key, "_row_hash")
        ours = [tuple(r) for r in rows.orderBy(*table.primary_key).collect()]
        assert duck == ours, table.name
        assert len({r[:-1] for r in duck}) == len(duck)  # no duplicated key


def test_quarantine_schemas_carry_no_collation(first) -> None:
    """Spark 4 writes ``string collate UTF8_BINARY`` when a type came from the Connect server's
    parser; kernel readers refuse it (the four full-load quarantine tables used to be unreadable)."""
    for table in CFG.silver_tables():
        path = first.lake / naming.Schemas().silver / f"{table.name}{naming.QUARANTINE_SUFFIX}"
        log = sorted((path / "_delta_log").glob("*.json"))
        assert log and not any("collate" in f.read_text() for f in log), path
