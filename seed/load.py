"""Create the source schema and load every table with COPY; record the dirty rows."""

from __future__ import annotations

import io
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import psycopg

from seed import facts, tables
from seed.tables import Generated
from seed.volumes import LOAD_ORDER, rows_for

log = logging.getLogger(__name__)
SQL_DIR = Path(__file__).resolve().parents[1] / "include" / "sql"
MANIFEST_SCHEMA = "lakehouse_seed"


@dataclass(frozen=True)
class SeedRequest:
    dsn: str
    schema: str = "tests"
    scale_factor: float = 0.01
    seed: int = 42


def generate(scale_factor: float, seed: int) -> dict[str, Generated]:
    """All ten tables at ``scale_factor``, deterministic for ``seed``."""
    n = {t: rows_for(t, scale_factor) for t in LOAD_ORDER}
    out: dict[str, Generated] = {
        "suppliers": tables.suppliers(n["suppliers"], seed),
        "warehouses": tables.warehouses(n["warehouses"], seed),
        "customers": tables.customers(n["customers"], seed),
    }
    out["products"] = tables.products(n["products"], n["suppliers"], seed)
    out["inventory"] = tables.inventory(n["inventory"], n["products"], n["warehouses"], seed)
    out["orders"], out["order_details"] = facts.orders_and_details(
        n["orders"], n["order_details"], n["customers"], out["products"].frame, seed
    )
    orders = out["orders"].frame
    out["shipments"] = facts.shipments(n["shipments"], orders, n["warehouses"], seed)
    out["returns"] = facts.returns(n["returns"], orders, out["order_details"].frame, seed)
    out["stock_levels"] = facts.stock_levels(n["stock_levels"], n["products"], n["warehouses"], seed)
    return out


def _sql(name: str, schema: str) -> str:
    return (SQL_DIR / name).read_text().replace("{schema}", schema)


def _copy(cur: psycopg.Cursor, schema: str, table: str, gen: Generated) -> None:
    buf = io.StringIO()
    gen.frame.to_csv(buf, index=False, header=False, float_format="%.2f", date_format="%Y-%m-%d %H:%M:%S")
    columns = ", ".join(gen.frame.columns)
    with cur.copy(f"COPY {schema}.{table} ({columns}) FROM STDIN (FORMAT csv)") as copy:
        copy.write(buf.getvalue())


def current_seed(conn: psycopg.Connection, schema: str) -> dict | None:
    """The recorded seed of ``schema`` (scale factor, seed, counts) or None when unseeded."""
    row = conn.execute("SELECT to_regclass(%s) IS NOT NULL", (f"{MANIFEST_SCHEMA}.seed_runs",)).fetchone()
    if not row or not row[0]:
        return None
    rec = conn.execute(
        f"SELECT scale_factor, seed, row_counts FROM {MANIFEST_SCHEMA}.seed_runs WHERE schema_name = %s",
        (schema,),
    ).fetchone()
    exists = conn.execute("SELECT to_regnamespace(%s) IS NOT NULL", (schema,)).fetchone()
    if rec is None or not (exists and exists[0]):
        return None
    return {"scale_factor": float(rec[0]), "seed": int(rec[1]), "row_counts": rec[2]}


def seed_database(req: SeedRequest, force: bool = False, keep_any: bool = False) -> dict[str, int]:
    """(Re)create ``req.schema`` with generated data; a no-op when the same seed is present
    (``keep_any``: when any seed is present, whatever its scale)."""
    with psycopg.connect(req.dsn, autocommit=False) as conn:
        existing = current_seed(conn, req.schema)
        same = existing and existing["scale_factor"] == req.scale_factor and existing["seed"] == req.seed
        if existing and (keep_any or (same and not force)):
            log.info(
                "schema %s already seeded at SF=%s seed=%s", req.schema, existing["scale_factor"], existing["seed"]
            )
            return dict(existing["row_counts"])
        started = time.monotonic()
        generated = generate(req.scale_factor, req.seed)
        gen_s = time.monotonic() - started
        with conn.cursor() as cur:
            cur.execute(f"DROP SCHEMA IF EXISTS {req.schema} CASCADE")
            cur.execute(_sql("source_schema.sql", req.schema))
            for table in LOAD_ORDER:
                _copy(cur, req.schema, table, generated[table])
            cur.execute(_sql("source_foreign_keys.sql", req.schema))
            counts = {t: len(generated[t].frame) for t in LOAD_ORDER}
            _record_manifest(cur, req, generated, counts)
        conn.commit()
        with conn.cursor() as cur:
            conn.autocommit = True
            # set hint bits and the visibility map now, so the first reads (and autovacuum) do not
            # rewrite every freshly loaded page in the middle of a run or a benchmark
            cur.execute("VACUUM (FREEZE, ANALYZE) " + ", ".join(f"{req.schema}.{t}" for t in LOAD_ORDER))
        log.info("seeded %s in %.1fs (generation %.1fs)", req.schema, time.monotonic() - started, gen_s)
        return counts


def ensure_activity_log(cur: psycopg.Cursor) -> None:
    """The record of applied activity windows (see seed.activity)."""
    cur.execute(
        f"""CREATE TABLE IF NOT EXISTS {MANIFEST_SCHEMA}.activity (
              schema_name text NOT NULL, window_start timestamp NOT NULL, window_end timestamp NOT NULL,
              seed integer NOT NULL, summary jsonb NOT NULL, applied_at timestamptz NOT NULL DEFAULT now(),
              PRIMARY KEY (schema_name, window_start))"""
    )


def _record_manifest(
    cur: psycopg.Cursor, req: SeedRequest, generated: dict[str, Generated], counts: dict[str, int]
) -> None:
    cur.execute(f"CREATE SCHEMA IF NOT EXISTS {MANIFEST_SCHEMA}")
    cur.execute(
        f"""CREATE TABLE IF NOT EXISTS {MANIFEST_SCHEMA}.dirty_rows (
              schema_name text NOT NULL, table_name text NOT NULL, pk bigint NOT NULL, rule text NOT NULL,
              PRIMARY KEY (schema_name, table_name, pk))"""
    )
    cur.execute(
        f"""CREATE TABLE IF NOT EXISTS {MANIFEST_SCHEMA}.seed_runs (
              schema_name text PRIMARY KEY, scale_factor double precision NOT NULL, seed integer NOT NULL,
              row_counts jsonb NOT NULL, created_at timestamptz NOT NULL DEFAULT now())"""
    )
    cur.execute(f"DELETE FROM {MANIFEST_SCHEMA}.dirty_rows WHERE schema_name = %s", (req.schema,))
    ensure_activity_log(cur)  # a fresh seed has had no activity yet
    cur.execute(f"DELETE FROM {MANIFEST_SCHEMA}.activity WHERE schema_name = %s", (req.schema,))
    cur.execute(f"DELETE FROM {MANIFEST_SCHEMA}.seed_runs WHERE schema_name = %s", (req.schema,))
    with cur.copy(f"COPY {MANIFEST_SCHEMA}.dirty_rows (schema_name, table_name, pk, rule) FROM STDIN") as copy:
        for table in LOAD_ORDER:
            for rule, pks in generated[table].dirty.items():
                for pk in pks.tolist():
                    copy.write_row((req.schema, table, pk, rule))
    cur.execute(
        f"INSERT INTO {MANIFEST_SCHEMA}.seed_runs (schema_name, scale_factor, seed, row_counts) VALUES (%s, %s, %s, %s)",
        (req.schema, req.scale_factor, req.seed, json.dumps(counts)),
    )
