"""The media-analytics pipeline as shipped (``include/pipelines/media.yaml`` + ``include/sql/media``),
end to end on real Parquet drops, Spark and Delta: two days of generated drops, every bronze row
against the files (pyarrow), every silver table and quarantine against an independent DuckDB
reading of the files, the counts against the generator's manifest, the five gold models against
DuckDB's own aggregation. One scenario (``media``) runs once; the tests assert on what it recorded.
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from lakehouse_airflow.config import PipelineConfig
from seed.media import KEYS, TABLES, MediaDay, write_day
from support import kernel
from support.file_lake import shipped_file_pipeline
from support.inprocess import Run, run_pipeline
from support.media_oracle import oracle

D1, D2 = "2026-11-20", "2026-11-21"
DIMENSIONS = ("assets", "devices", "geo")
FACTS = ("delivery", "metrics")
GOLD = ("executive_summary", "content_performance", "delivery_quality", "device_analytics", "geographic_analytics")


@dataclass
class Media:
    spark: Any
    cfg: PipelineConfig
    root: Path
    drops: Path
    seen: dict[str, Any] = field(default_factory=dict)

    def run(self, date: str) -> None:
        run_pipeline(self.cfg, Run(date, f"manual__{date}T01:00:00+00:00"), self.root)

    def table(self, schema: str, name: str):
        return self.spark.read.format("delta").load(str(self.root / schema / name))

    def rows(self, schema: str, name: str) -> list[dict]:
        return [r.asDict() for r in self.table(schema, name).collect()]

    def files(self, table: str, *days: str) -> list[Path]:
        return sorted(f for d in days for f in (self.drops / "media" / table / d).glob("*.parquet"))


@pytest.fixture(scope="module")
def media(spark, tmp_path_factory) -> Media:
    tmp = tmp_path_factory.mktemp("media")
    drops = tmp / "drops"
    lake = Media(spark, shipped_file_pipeline("media", tmp, drops), tmp / "lake", drops)
    seen = lake.seen
    seen["expected"] = {d: write_day(MediaDay(drops, dt.date.fromisoformat(d), sf=0.2)) for d in (D1, D2)}
    lake.run(D1)
    lake.run(D2)
    seen["bronze"] = {t: lake.rows("media_bronze", f"raw_{t}") for t in TABLES}
    seen["silver"] = {t: lake.rows("media_silver", t) for t in TABLES}
    seen["quarantine"] = {t: lake.table("media_silver", f"{t}_quarantine").count() for t in TABLES}
    seen["gold"] = {m: [tuple(r) for r in lake.table("media_gold", m).collect()] for m in GOLD}
    seen["files"] = {t: lake.files(t, D1, D2) for t in TABLES}
    seen["oracle"] = oracle(seen["files"])
    seen["silver_partitions"] = {
        t: lake.spark.sql(f"DESCRIBE DETAIL delta.`{lake.root / 'media_silver' / t}`").collect()[0]["partitionColumns"]
        for t in FACTS
    }
    return lake


def _close(a: Any, b: Any) -> bool:
    if isinstance(a, Decimal | float) or isinstance(b, Decimal | float):
        if a is None or b is None:
            return a is b
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=6e-3)  # gold rounds to 2-6 places
    return a == b


def test_bronze_holds_every_row_of_every_file_once(media: Media) -> None:
    """raw_<table> (the pipeline's bronze prefix) holds each file's rows, by file and key, with
    the file's values (pyarrow reads the files as the oracle)."""
    for table in TABLES:
        rows = media.seen["bronze"][table]
        key = KEYS[table]
        got = sorted((r["_source_file"], str(r[key])) for r in rows)
        want = sorted(
            (str(f), str(k)) for f in media.seen["files"][table] for k in pq.read_table(f).column(key).to_pylist()
        )
        assert got == want, table
        dates = {r["_logical_date"].isoformat() for r in rows}
        assert dates == {D1, D2}, table
        # a second Delta reader (DuckDB's delta extension) reads the same table
        path = media.root / "media_bronze" / f"raw_{table}"
        theirs = kernel.connect().execute(f"SELECT _source_file, {key} FROM delta_scan('{path}')").fetchall()
        assert sorted((f, str(k)) for f, k in theirs) == got, table


def test_silver_equals_an_independent_reading_of_the_files(media: Media) -> None:
    expected = media.seen["oracle"]
    for table in TABLES:
        key = KEYS[table]
        silver = {r[key]: r for r in media.seen["silver"][table]}
        assert set(silver) == set(expected["silver"][table]), table
        for k, want in expected["silver"][table].items():
            got = silver[k]
            for column, value in want.items():
                assert _close(got[column], value), (table, k, column, got[column], value)
        assert media.seen["quarantine"][table] == expected["quarantine"][table], table


def test_counts_equal_the_generators_manifest(media: Media) -> None:
    """Dimensions are daily snapshots (the newest wins, the same keys quarantined); facts add up."""
    days = media.seen["expected"]
    for table in DIMENSIONS:
        assert len(media.seen["silver"][table]) == days[D2][table]["silver"], table
        assert media.seen["quarantine"][table] == days[D2][table]["quarantine"], table
    for table in FACTS:
        assert len(media.seen["silver"][table]) == sum(days[d][table]["silver"] for d in (D1, D2)), table
        assert media.seen["quarantine"][table] == sum(days[d][table]["quarantine"] for d in (D1, D2)), table
    # the dirt is there
    assert days[D1]["delivery"]["null_keys"] > 0 and days[D1]["delivery"]["rows"] > days[D1]["delivery"]["keys"]
    assert days[D1]["assets"]["quarantine"] > 0 and days[D1]["metrics"]["quarantine"] > 0


def test_dimension_updates_keep_the_newest_snapshot(media: Media) -> None:
    d1 = {r["asset_id"]: r["genre"] for r in pq.read_table(media.files("assets", D1)[0]).to_pylist()}
    d2 = {r["asset_id"]: r["genre"] for r in pq.read_table(media.files("assets", D2)[0]).to_pylist()}
    retagged = {k for k in d1 if d1[k] != d2[k]}
    assert retagged, "the generator re-tags some assets every day"
    silver = {r["asset_id"]: r for r in media.seen["silver"]["assets"]}
    for k in retagged & set(silver):
        assert silver[k]["genre"] == d2[k] and silver[k]["genre_name"] == (d2[k] or "unknown")


def test_silver_cleaning_and_partitioning(media: Media) -> None:
    delivery = media.seen["silver"]["delivery"]
    assert {r["cdn"] for r in delivery} == {"akamai", "cloudfront", "fastly"}
    assert {r["device_type"] for r in media.seen["silver"]["devices"]} <= {
        "mobile",
        "tablet",
        "tv",
        "desktop",
        "console",
    }
    assert all(r["event_date"] == r["event_time"].date() for r in delivery)
    assert media.seen["silver_partitions"] == {"delivery": ["event_date"], "metrics": ["metric_date"]}


def test_every_gold_model_equals_duckdb(media: Media) -> None:
    for model in GOLD:
        got = sorted(media.seen["gold"][model], key=lambda r: tuple(str(v) for v in r))
        want = media.seen["oracle"]["gold"][model]
        assert len(got) == len(want) > 0, model
        for g, w in zip(got, want, strict=True):
            assert len(g) == len(w) and all(_close(a, b) for a, b in zip(g, w, strict=True)), (model, g, w)
