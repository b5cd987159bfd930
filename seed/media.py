"""Parquet drops for the media-analytics pipeline (``include/pipelines/media.yaml``): deterministic,
with documented dirt, one day at a time.

Per day, under ``<root>/media/<table>/<day>/<table>-<day>-<k>.parquet``:

* ``assets``, ``devices``, ``geo``: the day's full snapshot of the dimension (one file each):
  ``200 * sf`` assets (title, genre, content type, duration, release date), ``1000 * sf`` devices
  (type, OS, model), 46 places (country, region, city). 3 % of assets (at least one) change genre
  each day (the newest snapshot wins in silver).
* ``delivery``: about ``5000 * sf`` player events of ``2000 * sf`` sessions (CDN, bitrate,
  buffering, error code, bytes), in ``files`` files.
* ``metrics``: one engagement row per session (watch time, completed, likes, shares), in
  ``files`` files.

Dirt, each independently: assets 4 % titles padded with spaces, 2 % genre missing (silver: the
derived ``genre_name`` says ``unknown``), 2 % (and every 50th) duration 0 (quarantined); devices 3 % device type in
upper case (silver lower-cases it); delivery 3 % CDN names in mixed case or padded, 1 % asset id
missing (quarantined), 1 % negative bitrate (quarantined), 0.5 % event id missing (quarantined, NULL
key), 2 % of the day's events sent again, unchanged, in the day's last file; metrics 1 % (and every 100th)
negative watch time (quarantined), 2 % ``completed`` missing (counts as not completed). Dirt of a
dimension row is a property of its key: the same rows are quarantined in every snapshot.

The expected counts of every day are written next to the drops
(``<root>/_generator/media-<day>.json``): per table the rows written, distinct keys, and the rows
silver keeps and quarantines for that day's files, from the generated records.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
from dataclasses import dataclass
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from lakehouse_contract.storage import DEFAULT_STORAGE_CONN_ID
from seed.drops import DropDay

GENRES = ("drama", "comedy", "documentary", "action", "kids", "sport", "news", "thriller")
CONTENT_TYPES = ("movie", "episode", "live", "clip")
DEVICE_TYPES = ("mobile", "tablet", "tv", "desktop", "console")
OS_BY_TYPE = {"mobile": ("ios", "android"), "tablet": ("ios", "android"), "tv": ("tizen", "webos", "androidtv"),
              "desktop": ("windows", "macos", "linux"), "console": ("playstation", "xbox")}  # fmt: skip
PLACES = [
    (country, region, city)
    for country, region, cities in (
        ("US", "na", ("New York", "Los Angeles", "Chicago", "Houston", "Phoenix", "Seattle")),
        ("CA", "na", ("Toronto", "Montreal", "Vancouver")),
        ("BR", "latam", ("Sao Paulo", "Rio de Janeiro", "Brasilia")),
        ("MX", "latam", ("Mexico City", "Guadalajara", "Monterrey")),
        ("GB", "emea", ("London", "Manchester", "Glasgow", "Leeds")),
        ("DE", "emea", ("Berlin", "Munich", "Hamburg", "Cologne")),
        ("FR", "emea", ("Paris", "Lyon", "Marseille")),
        ("ES", "emea", ("Madrid", "Barcelona", "Valencia")),
        ("NG", "emea", ("Lagos", "Abuja")),
        ("IN", "apac", ("Mumbai", "Delhi", "Bengaluru", "Chennai")),
        ("JP", "apac", ("Tokyo", "Osaka", "Nagoya")),
        ("AU", "apac", ("Sydney", "Melbourne", "Brisbane")),
        ("SG", "apac", ("Singapore",)),
        ("KR", "apac", ("Seoul", "Busan")),
        ("ZA", "emea", ("Johannesburg", "Cape Town")),
    )
    for city in cities
]
CDNS = ("akamai", "cloudfront", "fastly")
ERRORS = ("E_TIMEOUT", "E_DECODE", "E_DRM", "E_NETWORK")
TABLES = ("assets", "devices", "geo", "delivery", "metrics")
KEYS = {"assets": "asset_id", "devices": "device_id", "geo": "geo_id", "delivery": "event_id", "metrics": "session_id"}

UTC = dt.UTC
SCHEMAS = {
    "assets": pa.schema([("asset_id", pa.string()), ("title", pa.string()), ("genre", pa.string()),
                         ("content_type", pa.string()), ("duration_seconds", pa.int32()),
                         ("release_date", pa.date32())]),
    "devices": pa.schema([("device_id", pa.string()), ("device_type", pa.string()), ("os", pa.string()),
                          ("model", pa.string())]),
    "geo": pa.schema([("geo_id", pa.string()), ("country", pa.string()), ("region", pa.string()),
                      ("city", pa.string())]),
    "delivery": pa.schema([("event_id", pa.string()), ("session_id", pa.string()), ("asset_id", pa.string()),
                           ("device_id", pa.string()), ("geo_id", pa.string()),
                           ("event_time", pa.timestamp("us", tz="UTC")), ("cdn", pa.string()),
                           ("bitrate_kbps", pa.int32()), ("buffering_ms", pa.int32()), ("error_code", pa.string()),
                           ("bytes_delivered", pa.int64())]),
    "metrics": pa.schema([("session_id", pa.string()), ("asset_id", pa.string()), ("device_id", pa.string()),
                          ("geo_id", pa.string()), ("metric_date", pa.date32()), ("watch_seconds", pa.int32()),
                          ("completed", pa.bool_()), ("likes", pa.int32()), ("shares", pa.int32())]),
}  # fmt: skip


@dataclass(frozen=True)
class MediaDay(DropDay):
    files: int = 4  # files per fact table and day


def _assets(req: MediaDay) -> list[dict[str, Any]]:
    n = req.size(200)
    retagged = set(random.Random(f"{req.seed}:assets:{req.day}").sample(range(n), max(1, round(0.03 * n))))
    daily = random.Random(f"{req.seed}:genres:{req.day}")
    rows = []
    for i in range(n):
        rng = random.Random(f"{req.seed}:asset:{i}")  # the asset's own attributes, the same every day
        row = {
            "asset_id": f"A-{i:05d}",
            "title": f"{rng.choice(('The', 'A', 'Our', 'No'))} {rng.choice(('Last', 'Hidden', 'Long', 'Bright'))} "
            f"{rng.choice(('River', 'City', 'Summer', 'Signal', 'Garden'))} {i}",
            "genre": rng.choice(GENRES),
            "content_type": rng.choice(CONTENT_TYPES),
            "duration_seconds": rng.randint(60, 9000),
            "release_date": dt.date(2020, 1, 1) + dt.timedelta(days=rng.randint(0, 2000)),
        }
        if rng.random() < 0.04:
            row["title"] = f"  {row['title']} "
        if rng.random() < 0.02:
            row["genre"] = None
        elif i in retagged:  # re-tagged today
            row["genre"] = daily.choice([g for g in GENRES if g != row["genre"]])
        if rng.random() < 0.02 or i % 50 == 7:
            row["duration_seconds"] = 0
        rows.append(row)
    return rows


def _devices(req: MediaDay) -> list[dict[str, Any]]:
    rows = []
    for i in range(req.size(1000)):
        rng = random.Random(f"{req.seed}:device:{i}")
        kind = rng.choice(DEVICE_TYPES)
        rows.append({
            "device_id": f"D-{i:06d}",
            "device_type": kind.upper() if rng.random() < 0.03 else kind,
            "os": rng.choice(OS_BY_TYPE[kind]),
            "model": f"{kind[:2].upper()}-{rng.randint(100, 999)}",
        })  # fmt: skip
    return rows


def _geo(_: MediaDay) -> list[dict[str, Any]]:
    return [
        {"geo_id": f"G-{i:03d}", "country": country, "region": region, "city": city}
        for i, (country, region, city) in enumerate(PLACES)
    ]


def _sessions(req: MediaDay) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The day's delivery events and engagement metrics (one per session)."""
    rng = random.Random(f"{req.seed}:sessions:{req.day}")
    n_assets, n_devices = req.size(200), req.size(1000)
    start = dt.datetime(req.day.year, req.day.month, req.day.day, tzinfo=UTC)
    events: list[dict[str, Any]] = []
    metrics: list[dict[str, Any]] = []
    for s in range(req.size(2000)):
        session = f"S-{req.day:%Y%m%d}-{s:06d}"
        asset, device = f"A-{rng.randrange(n_assets):05d}", f"D-{rng.randrange(n_devices):06d}"
        geo = f"G-{rng.randrange(len(PLACES)):03d}"
        began = start + dt.timedelta(seconds=rng.randrange(86_000))
        cdn = rng.choice(CDNS)
        watch = 0
        for _ in range(rng.randint(1, 4)):
            bitrate = rng.choice((800, 1600, 3200, 4500, 6000, 8000))
            seconds = rng.randint(30, 900)
            watch += seconds
            event = {
                "event_id": f"E-{req.day:%Y%m%d}-{len(events):07d}",
                "session_id": session, "asset_id": asset, "device_id": device, "geo_id": geo,
                "event_time": began + dt.timedelta(seconds=watch), "cdn": cdn, "bitrate_kbps": bitrate,
                "buffering_ms": int(rng.expovariate(1 / 400)),
                "error_code": rng.choice(ERRORS) if rng.random() < 0.04 else None,
                "bytes_delivered": bitrate * 125 * seconds,
            }  # fmt: skip
            if rng.random() < 0.03:
                event["cdn"] = rng.choice((cdn.upper(), cdn.title(), f" {cdn} "))
            if rng.random() < 0.01:
                event["asset_id"] = None
            if rng.random() < 0.01:
                event["bitrate_kbps"] = -bitrate
            if rng.random() < 0.005:
                event["event_id"] = None
            events.append(event)
        metric = {
            "session_id": session, "asset_id": asset, "device_id": device, "geo_id": geo, "metric_date": req.day,
            "watch_seconds": watch, "completed": rng.random() < 0.35, "likes": int(rng.random() < 0.1),
            "shares": int(rng.random() < 0.02),
        }  # fmt: skip
        if rng.random() < 0.01 or s % 100 == 42:
            metric["watch_seconds"] = -watch
        if rng.random() < 0.02:
            metric["completed"] = None
        metrics.append(metric)
    return events, metrics


def _quarantined(table: str, row: dict[str, Any]) -> bool:
    """What the pipeline's silver rules say about a row (the generator's own reading of them)."""
    if row[KEYS[table]] is None:
        return True
    if table == "assets":
        return row["duration_seconds"] <= 0
    if table == "delivery":
        return row["asset_id"] is None or row["bitrate_kbps"] < 0
    if table == "metrics":
        return row["watch_seconds"] < 0
    return False


def day_files(req: MediaDay) -> dict[str, list[list[dict[str, Any]]]]:
    """Per table, the rows of each file of the day."""
    events, metrics = _sessions(req)
    rng = random.Random(f"{req.seed}:resend:{req.day}")
    split = {name: [rows[k :: req.files] for k in range(req.files)] for name, rows in
             (("delivery", events), ("metrics", metrics))}  # fmt: skip
    earlier = [e for f in split["delivery"][:-1] for e in f if e["event_id"] is not None]
    split["delivery"][-1].extend(dict(e) for e in earlier if rng.random() < 0.02)  # sent again, unchanged
    return {"assets": [_assets(req)], "devices": [_devices(req)], "geo": [_geo(req)], **split}


def counts(table: str, files: list[list[dict[str, Any]]]) -> dict[str, int]:
    rows = [r for f in files for r in f]
    key = KEYS[table]
    latest = {r[key]: r for r in rows if r[key] is not None}
    settled = [*latest.values(), *(r for r in rows if r[key] is None)]
    quarantined = sum(_quarantined(table, r) for r in settled)
    return {
        "rows": len(rows),
        "keys": len(latest),
        "null_keys": len(settled) - len(latest),
        "silver": len(settled) - quarantined,
        "quarantine": quarantined,
    }


def _parquet(table: str, rows: list[dict[str, Any]]) -> bytes:
    out = io.BytesIO()
    pq.write_table(pa.Table.from_pylist(rows, schema=SCHEMAS[table]), out, compression="snappy")
    return out.getvalue()


def file_path(root: str, table: str, day: dt.date, k: int) -> str:
    return f"{root.rstrip('/')}/media/{table}/{day}/{table}-{day}-{k}.parquet"


def write_day(request: MediaDay, conn_id: str = DEFAULT_STORAGE_CONN_ID) -> dict[str, dict[str, int]]:
    """Write the day's drops (again: the same bytes) and the expected counts; the counts per table."""
    from lakehouse_airflow.lake_files import write_bytes, write_text

    root = str(request.root).rstrip("/")
    expected = {}
    for table, files in day_files(request).items():
        for k, rows in enumerate(files, start=1):
            write_bytes(conn_id, file_path(root, table, request.day, k), _parquet(table, rows))
        expected[table] = counts(table, files)
    write_text(conn_id, f"{root}/_generator/media-{request.day}.json", json.dumps(expected, indent=2, sort_keys=True))
    return expected
