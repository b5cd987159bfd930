"""The returns pipeline computed independently of Spark: DuckDB reads the generated drops (JSON lines
and CSV) and applies the pipeline's silver and gold rules itself, for the file-source tests to
compare with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

CHANNEL = {"returns_web": "web", "returns_store": "store"}
BUSINESS = ("return_id", "order_id", "sku", "return_date", "reason", "quantity", "amount")
# the silver rules of include/pipelines/returns.yaml, read independently: required columns, the
# amount fits its type, quantity_positive and amount_not_negative (NULL passes a rule)
VALID = """return_id IS NOT NULL AND sku IS NOT NULL AND return_date IS NOT NULL AND NOT amount_misfit
           AND coalesce(quantity > 0, true) AND coalesce(amount >= 0, true)"""
DERIVED = (
    "coalesce(reason, 'unknown') AS return_reason, coalesce(quantity, 1) AS units, coalesce(amount, 0) AS amount_filled"
)


def _read_raw(channel: str, files: list[Path]) -> str:
    """A DuckDB relation of the files' rows, every value as text, with the file's path."""
    listed = ", ".join(f"'{f}'" for f in files)
    cols = "{" + ", ".join(f"'{c}': 'VARCHAR'" for c in BUSINESS) + "}"
    if channel == "web":
        return f"read_json([{listed}], format='newline_delimited', columns={cols}, filename=true)"
    return f"read_csv([{listed}], header=true, columns={cols}, filename=true)"


def oracle(files: dict[str, list[Path]]) -> dict[str, Any]:
    """Silver (valid rows by key), quarantine counts and the gold model, from the raw files alone:
    trim, type, the newest file version of each key (modification time, then path), the rules."""
    con = duckdb.connect()
    order = [(str(f), f.stat().st_mtime_ns // 1_000_000) for fs in files.values() for f in fs]
    con.execute("CREATE TABLE file_order (filename VARCHAR, mtime BIGINT)")
    con.executemany("INSERT INTO file_order VALUES (?, ?)", order)
    out: dict[str, Any] = {"silver": {}, "quarantine": {}}
    for table, channel in CHANNEL.items():
        con.execute(f"""
            CREATE OR REPLACE TABLE typed_{channel} AS
            WITH raw AS (SELECT * FROM {_read_raw(channel, files[table])}),
            t AS (
                SELECT nullif(trim(return_id), '') AS return_id,
                       TRY_CAST(nullif(trim(order_id), '') AS BIGINT) AS order_id,
                       nullif(trim(sku), '') AS sku,
                       TRY_CAST(nullif(trim(return_date), '') AS DATE) AS return_date,
                       lower(nullif(trim(reason), '')) AS reason,
                       TRY_CAST(nullif(trim(quantity), '') AS INTEGER) AS quantity,
                       TRY_CAST(nullif(trim(amount), '') AS DECIMAL(12, 2)) AS amount,
                       nullif(trim(amount), '') IS NOT NULL AND amount IS NOT NULL
                         AND TRY_CAST(nullif(trim(amount), '') AS DECIMAL(12, 2)) IS NULL AS amount_misfit,
                       filename
                FROM raw
            ),
            ranked AS (
                SELECT t.*, row_number() OVER (PARTITION BY return_id ORDER BY o.mtime DESC, t.filename DESC) AS rn
                FROM t JOIN file_order o USING (filename)
            )
            SELECT * FROM ranked WHERE return_id IS NULL OR rn = 1
        """)
        rows = con.execute(
            f"SELECT return_id, order_id, sku, return_date, {DERIVED} FROM typed_{channel} WHERE {VALID}"
        ).fetchall()
        out["silver"][table] = {r[0]: r[1:] for r in rows}
        (out["quarantine"][table],) = con.execute(
            f"SELECT count(*) FROM typed_{channel} WHERE NOT ({VALID})"
        ).fetchone()
    valid_rows = " UNION ALL ".join(f"SELECT sku, {DERIVED} FROM typed_{c} WHERE {VALID}" for c in CHANNEL.values())
    out["gold"] = sorted(
        con.execute(
            "SELECT sku, return_reason, count(*), sum(units), CAST(sum(amount_filled) AS DECIMAL(18, 2)) "
            f"FROM ({valid_rows}) GROUP BY ALL"
        ).fetchall()
    )
    return out
