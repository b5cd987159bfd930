"""File-source benchmark: bronze ingestion of Parquet drops vs reading them with pyarrow, and the
per-run listing + manifest cost as the folder's history of loaded files grows.

1. ``--files`` Parquet drops of delivery events (media-analytics shaped: event id, asset, device,
   CDN, bitrate, buffering, error code, country, event time) totalling about ``--total-mb``, in ten
   dated folders. The floor: ``pyarrow.dataset`` reading them all into memory. Bronze: the
   pipeline's ``extract_files`` + ``write_bronze`` jobs (in-job seconds from their step results),
   one load of all the files. Reported: the ratio bronze / floor (goal <= 3).
2. A folder of ``--history`` tiny files, all already loaded, plus one new file: the next run's
   ``extract_files`` seconds and the bare listing's seconds, next to the same with a tenth of the
   history. The manifest must not add cost beyond the listing as the history grows.

The jobs run in this process against the local Spark server (``spark_jobs.jobs.dispatch``), with
the argv the DAG renders (``benchmarks.bronze``'s renderer).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import shutil
import sys
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import yaml

from benchmarks.bronze import _render
from benchmarks.results import save
from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.describe.pipeline import bronze_specs, file_source
from lakehouse_airflow.describe.tasks import SparkTask
from lakehouse_airflow.paths import PROJECT_ROOT
from spark_jobs.jobs import dispatch

DAY = dt.date(2026, 11, 23)
COLUMNS = {
    "event_id": "bigint", "asset_id": "bigint", "device_id": "bigint", "cdn": "string", "bitrate_kbps": "int",
    "buffering_ms": "int", "error_code": "string", "country": "string", "event_time": "timestamp",
}  # fmt: skip
CDNS = np.array(["akamai", "cloudfront", "fastly", "edgio"])
ERRORS = np.array(["", "", "", "", "", "", "", "E_TIMEOUT", "E_DECODE", "E_403"])
COUNTRIES = np.array(["IN", "US", "GB", "DE", "BR", "JP", "FR", "CA", "AU", "SG"])
BYTES_PER_ROW = 30.0  # compressed Parquet size of one event, measured on this generator


def _events(rng: np.random.Generator, start: int, n: int, day: dt.date) -> pa.Table:
    base = np.datetime64(day.isoformat(), "us")
    return pa.table({
        "event_id": np.arange(start, start + n, dtype=np.int64),
        "asset_id": rng.integers(1, 50_000, n), "device_id": rng.integers(1, 2_000_000, n),
        "cdn": CDNS[rng.integers(0, len(CDNS), n)], "bitrate_kbps": rng.integers(300, 12_000, n).astype(np.int32),
        "buffering_ms": rng.exponential(400, n).astype(np.int32), "error_code": ERRORS[rng.integers(0, 10, n)],
        "country": COUNTRIES[rng.integers(0, 10, n)],
        "event_time": base + rng.integers(0, 86_400_000_000, n).astype("timedelta64[us]"),
    })  # fmt: skip


def write_drops(folder: Path, files: int, rows_per_file: int, days: int = 10) -> list[Path]:
    rng = np.random.default_rng(7)
    paths = []
    for k in range(files):
        day = DAY - dt.timedelta(days=k % days)
        path = folder / day.isoformat() / f"delivery-{k:05d}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(_events(rng, k * rows_per_file, rows_per_file, day), path)
        paths.append(path)
    return paths


def _config(drops: Path, name: str) -> PipelineConfig:
    raw = {
        "dag_id": "bench_files", "owner": "bench", "start_date": "2026-01-01", "timezone": "UTC",
        "schedule": "0 1 * * *", "source": {"kind": "files", "system": "media", "root": str(drops)},
        "lakehouse": {"bronze_schema": "media_bronze", "silver_schema": "media_silver", "gold_schema": "media_gold"},
        "tables": {name: {"priority": 1, "primary_key": ["event_id"], "columns": COLUMNS,
                          "files": {"format": "parquet", "path": name}}},
    }  # fmt: skip
    return PipelineConfig.model_validate(yaml.safe_load(yaml.safe_dump(raw)))


def run_steps(cfg: PipelineConfig, table: str, lake: Path, run_id: str, day: dt.date, steps: tuple[str, ...]) -> dict:
    """The steps of ``table`` in this process; each step's in-job seconds and outcome."""
    specs = {s.task_id: s for s in bronze_specs(cfg, cfg.tables[table]) if isinstance(s, SparkTask)}
    out: dict[str, object] = {}
    for step in steps:
        task = specs[step]
        spec = replace(task.spec, location=replace(task.spec.location, root=str(lake)))
        argv = [task.spec.job, *_render(replace(task, spec=spec).argv()[1:], run_id, day)]
        if dispatch(argv) != 0:
            raise RuntimeError(f"{table}.{step} failed for {run_id}")
        doc = json.loads(Path(lake, "_control/step_results", cfg.dag_id, run_id, table, f"{step}.json").read_text())
        out[f"{step}_s"] = round(doc["finished_at"] - doc["started_at"], 2)
        out[f"{step}_metrics"] = doc["metrics"]
    return out


def listing_seconds(cfg: PipelineConfig, table: str) -> float:
    from spark_jobs.runtime.session import get_spark
    from spark_jobs.storage.file_source import list_files

    spark, source = get_spark("bench-listing"), file_source(cfg, cfg.tables[table])
    start = time.perf_counter()
    list_files(spark, source)
    return round(time.perf_counter() - start, 2)


def ingest(work: Path, files: int, total_mb: float) -> dict[str, object]:
    rows_per_file = max(1, int(total_mb * 1e6 / BYTES_PER_ROW / files))
    drops = work / "drops"
    paths = write_drops(drops / "delivery", files, rows_per_file)
    size = sum(p.stat().st_size for p in paths)
    start = time.perf_counter()
    rows = ds.dataset([str(p) for p in paths], format="parquet").to_table().num_rows
    floor = time.perf_counter() - start
    cfg = _config(drops, "delivery")
    lake = work / "lake"
    steps = run_steps(cfg, "delivery", lake, "bench_ingest", DAY, ("extract", "write_bronze"))
    bronze = float(steps["extract_s"]) + float(steps["write_bronze_s"])  # type: ignore[arg-type]
    return {
        "files": files, "rows": rows, "parquet_mb": round(size / 1e6, 1), "pyarrow_read_s": round(floor, 2),
        "extract_files_s": steps["extract_s"], "write_bronze_s": steps["write_bronze_s"],
        "bronze_s": round(bronze, 2), "ratio_bronze_vs_pyarrow": round(bronze / floor, 2),
    }  # fmt: skip


def history(work: Path, loaded: int) -> dict[str, object]:
    """``loaded`` tiny files loaded by one run, then one new file: the next run's costs."""
    drops = work / f"hist{loaded}"
    write_drops(drops / "tiny", loaded, 1, days=1)
    cfg = _config(drops, "tiny")
    lake = work / f"lake{loaded}"
    run_steps(cfg, "tiny", lake, f"first_{loaded}", DAY, ("extract", "write_bronze"))
    new = drops / "tiny" / (DAY + dt.timedelta(days=1)).isoformat() / "new.parquet"
    new.parent.mkdir()
    pq.write_table(_events(np.random.default_rng(1), 10**9, 1, DAY), new)
    steps = run_steps(cfg, "tiny", lake, f"next_{loaded}", DAY + dt.timedelta(days=1), ("extract",))
    return {"history_files": loaded, "next_extract_s": steps["extract_s"], "listing_s": listing_seconds(cfg, "tiny"),
            "files_loaded": steps["extract_metrics"]["files_loaded"]}  # type: ignore[index]  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.files")
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--total-mb", type=float, default=2000.0)
    p.add_argument("--history", type=int, default=10_000)
    args = p.parse_args(argv)
    work = PROJECT_ROOT / ".local" / "bench-files"
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    try:
        report: dict[str, object] = {"ingest": ingest(work, args.files, args.total_mb)}
        small, large = history(work, max(1, args.history // 10)), history(work, args.history)
        report["history"] = {"small": small, "large": large,
                             "extract_growth": round(float(large["next_extract_s"]) / float(small["next_extract_s"]), 2),  # type: ignore[arg-type]
                             "listing_growth": round(float(large["listing_s"]) / float(small["listing_s"]), 2)}  # type: ignore[arg-type]  # fmt: skip
    finally:
        shutil.rmtree(work, ignore_errors=True)
    save(f"files-{args.files}x{int(args.total_mb)}mb", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
