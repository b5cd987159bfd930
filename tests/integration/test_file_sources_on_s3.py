"""The returns pipeline through Airflow (``airflow dags test``: the real operators, spark-submit per
task) with its drops in one bucket prefix and the lakehouse in another, compared with DuckDB reading
the same day's drops (the generator is deterministic, so they are written locally as well)."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from lakehouse_airflow.config.pipeline import with_absolute_sql_paths
from lakehouse_airflow.paths import PROJECT_ROOT
from seed.returns import ReturnsDay, write_day
from support import s3 as objects
from support.dagrun import dags_test
from support.env import sh
from support.returns_oracle import CHANNEL, oracle

SHIPPED = PROJECT_ROOT / "include" / "pipelines" / "returns.yaml"
DAY = "2026-11-20"


@dataclass
class AirflowS3Run:
    result: Any
    root: str
    drops: str
    local: Path  # the same day's drops written locally (the generator is deterministic)
    env: dict[str, str]


@pytest.fixture(scope="module")
def s3_dag_run(stack, tmp_path_factory) -> AirflowS3Run:
    """``airflow dags test returns_lakehouse`` (the real operators, spark-submit per task) with the
    drops in one bucket prefix and the lakehouse in another."""
    sh("scripts/locals3.sh up", env=stack, timeout=1200)
    tmp = tmp_path_factory.mktemp("files_s3")
    tag = os.urandom(4).hex()
    drops, root = f"s3a://lakehouse/it-drops-{tag}", f"s3a://lakehouse/it-files-{tag}"
    day = dt.date.fromisoformat(DAY)
    write_day(ReturnsDay(drops + "/returns_drops", day, sf=0.3))
    write_day(ReturnsDay(tmp / "local", day, sf=0.3))
    raw = with_absolute_sql_paths(yaml.safe_load(SHIPPED.read_text()), SHIPPED)
    raw["retries"] = 0
    folder = tmp / "pipelines"
    folder.mkdir()
    (folder / "returns.yaml").write_text(yaml.safe_dump(raw, sort_keys=False))
    result = dags_test(stack, folder, root, "returns_lakehouse", extra_env={"LAKEHOUSE_FILES_ROOT": drops}, date=DAY)
    return AirflowS3Run(result, root, drops, tmp / "local", stack)


def test_the_dag_on_the_object_store_equals_the_files(s3_dag_run: AirflowS3Run, spark) -> None:
    run = s3_dag_run
    assert run.result.returncode == 0, run.result.stdout[-4000:]
    local = {t: sorted((run.local / "returns_raw" / c / DAY).glob("*")) for t, c in CHANNEL.items()}
    expected = oracle(local)
    gold = sorted(
        tuple(r) for r in spark.read.format("delta").load(f"{run.root}/returns_gold/returns_by_sku_reason").collect()
    )
    assert gold == expected["gold"]
    # bronze names each object it read, by its s3a:// path; a second reader agrees on the rows
    con = objects.duckdb_s3(run.env)
    bronze = f"{run.root}/returns_bronze/bz_returns_store".replace("s3a://", "s3://")
    files = {r[0] for r in con.execute(f"SELECT DISTINCT _source_file FROM delta_scan('{bronze}')").fetchall()}
    assert files == {f"{run.drops}/returns_drops/returns_raw/store/{DAY}/{p.name}" for p in local["returns_store"]}
    silver = f"{run.root}/returns_silver/returns_web".replace("s3a://", "s3://")
    keys = {r[0] for r in con.execute(f"SELECT return_id FROM delta_scan('{silver}')").fetchall()}
    assert keys == set(expected["silver"]["returns_web"])
    secret = objects.credentials(run.env)["secret"]
    assert secret not in run.result.stdout + run.result.stderr
