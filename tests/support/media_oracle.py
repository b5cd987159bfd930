"""The media pipeline computed independently of Spark: DuckDB reads the generated Parquet drops and
applies the pipeline's silver rules and the five gold models itself (written here, not read from
the pipeline's SQL files), for the media tests to compare with."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import duckdb

KEYS = {"assets": "asset_id", "devices": "device_id", "geo": "geo_id", "delivery": "event_id", "metrics": "session_id"}
# the silver rules of include/pipelines/media.yaml, read independently: required columns (key
# included), expectations (a NULL passes a rule)
VALID = {
    "assets": "asset_id IS NOT NULL AND title IS NOT NULL AND coalesce(duration_seconds > 0, true)",
    "devices": "device_id IS NOT NULL",
    "geo": "geo_id IS NOT NULL AND country IS NOT NULL",
    "delivery": """event_id IS NOT NULL AND asset_id IS NOT NULL AND session_id IS NOT NULL AND event_time IS NOT NULL
                   AND coalesce(bitrate_kbps > 0, true) AND coalesce(buffering_ms >= 0, true)""",
    "metrics": "session_id IS NOT NULL AND asset_id IS NOT NULL AND metric_date IS NOT NULL "
    "AND coalesce(watch_seconds >= 0, true)",
}
LOWER = {"devices": ("device_type",), "delivery": ("cdn",)}
DERIVED = {
    "assets": ", coalesce(genre, 'unknown') AS genre_name",
    "delivery": ", CAST(event_time AS DATE) AS event_date, error_code IS NOT NULL AS is_error",
    "metrics": ", coalesce(completed, false) AS completed_flag",
}
GOLD = {
    "executive_summary": """
        WITH ev AS (SELECT event_date AS day, count(*) AS events, count(DISTINCT session_id) AS sessions,
                           count(DISTINCT device_id) AS devices, count(*) FILTER (WHERE is_error) AS errors,
                           sum(bytes_delivered) AS bytes, avg(bitrate_kbps) AS bitrate
                    FROM delivery GROUP BY ALL),
             en AS (SELECT metric_date AS day, count(*) AS engaged, sum(watch_seconds) AS watch,
                           count(*) FILTER (WHERE completed_flag) AS completions
                    FROM metrics GROUP BY ALL)
        SELECT coalesce(ev.day, en.day), coalesce(events, 0), coalesce(sessions, 0), coalesce(devices, 0),
               errors / events, coalesce(bytes, 0) / 1e9, bitrate, coalesce(engaged, 0), coalesce(watch, 0) / 3600,
               completions / engaged
        FROM ev FULL JOIN en ON ev.day = en.day""",
    "content_performance": """
        SELECT m.asset_id, any_value(a.title), any_value(a.genre_name), any_value(a.content_type), count(*),
               count(DISTINCT m.device_id), sum(watch_seconds) / 3600, avg(completed_flag::INT), sum(likes),
               sum(shares)
        FROM metrics m LEFT JOIN assets a USING (asset_id) GROUP BY m.asset_id""",
    "delivery_quality": """
        SELECT event_date, cdn, count(*), count(DISTINCT session_id), avg(bitrate_kbps), avg(buffering_ms),
               max(buffering_ms), count(*) FILTER (WHERE is_error), avg(is_error::INT), sum(bytes_delivered) / 1e9
        FROM delivery GROUP BY ALL""",
    "device_analytics": """
        SELECT coalesce(d.device_type, 'unknown'), coalesce(d.os, 'unknown'), count(*), count(DISTINCT m.device_id),
               sum(watch_seconds) / 3600, avg(watch_seconds) / 60, avg(completed_flag::INT)
        FROM metrics m LEFT JOIN devices d USING (device_id) GROUP BY ALL""",
    "geographic_analytics": """
        SELECT coalesce(g.country, 'unknown'), coalesce(g.region, 'unknown'), count(DISTINCT session_id),
               count(DISTINCT device_id), count(*), sum(bytes_delivered) / 1e9, avg(bitrate_kbps), avg(is_error::INT)
        FROM delivery e LEFT JOIN geo g USING (geo_id) GROUP BY ALL""",
}


def _typed(con: duckdb.DuckDBPyConnection, table: str, files: list[Path]) -> str:
    """The table's rows from its files: strings trimmed (blank -> NULL), the lower-cased columns,
    the newest version of each key (the later file: dated folders sort in time), NULL keys kept."""
    listed = ", ".join(f"'{f}'" for f in files)
    kinds = {r[0]: r[1] for r in con.execute(f"DESCRIBE SELECT * FROM read_parquet([{listed}])").fetchall()}
    exprs = []
    for c in kinds:
        value = f"nullif(trim({c}), '')" if kinds[c] == "VARCHAR" else c
        if kinds[c] == "TIMESTAMP WITH TIME ZONE":  # Spark hands back UTC wall-clock time (session zone UTC)
            value = f"timezone('UTC', {c})"
        exprs.append(f"{'lower(' + value + ')' if c in LOWER.get(table, ()) else value} AS {c}")
    key = KEYS[table]
    con.execute(f"""
        CREATE OR REPLACE TABLE typed_{table} AS
        WITH t AS (SELECT {", ".join(exprs)}, filename FROM read_parquet([{listed}], filename = true)),
        ranked AS (SELECT *, row_number() OVER (PARTITION BY {key} ORDER BY filename DESC) AS rn FROM t)
        SELECT * EXCLUDE (rn, filename) {DERIVED.get(table, "")} FROM ranked WHERE {key} IS NULL OR rn = 1
    """)
    return f"typed_{table}"


def oracle(files: dict[str, list[Path]]) -> dict[str, Any]:
    """Silver (valid rows by key, every column), quarantine counts and the five gold models (sorted
    rows), from the raw files alone."""
    con = duckdb.connect()
    con.execute("SET TimeZone = 'UTC'")
    out: dict[str, Any] = {"silver": {}, "quarantine": {}, "gold": {}}
    for table, paths in files.items():
        typed = _typed(con, table, paths)
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * FROM {typed} WHERE {VALID[table]}")
        cursor = con.execute(f"SELECT * FROM {table}")
        names = [d[0] for d in cursor.description]
        out["silver"][table] = {
            row[names.index(KEYS[table])]: dict(zip(names, row, strict=True)) for row in cursor.fetchall()
        }
        (out["quarantine"][table],) = con.execute(f"SELECT count(*) FROM {typed} WHERE NOT ({VALID[table]})").fetchone()
    for model, sql in GOLD.items():
        out["gold"][model] = sorted(con.execute(sql).fetchall(), key=lambda r: tuple(str(v) for v in r))
    return out
