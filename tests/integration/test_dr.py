"""Disaster recovery on the object store (``spark_jobs/jobs/dr.py``, ``python -m lakehouse_airflow.dr``).

The primary lakehouse lives in its own bucket: a copy of the suite's shared full run (source schema
``it_dr``, seeded like ``it_src``). A restore point P1 is taken and replicated to a second bucket
(twice: the second copies nothing), two more days are loaded (orders and order_details, source
activity in between), then:

* ``restore`` to P1: every table equals P1 exactly; rerunning the two days converges to the state
  the two days had left;
* the primary bucket is deleted; ``rebuild`` from the replica: every table equals P1 again;
* a day later, the maintenance job OPTIMIZEs and VACUUMs the gold models on S3, P2 is taken, a
  VACUUM without retention deletes files P1 needs: restoring P1 is refused (through the CLI),
  naming P2 as the oldest reachable point, and no table changes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid
from dataclasses import dataclass

import pytest
from prometheus_client.parser import text_string_to_metric_families

from lakehouse_airflow.build.intervals import source_window
from lakehouse_airflow.config import PipelineConfig, load_pipeline
from lakehouse_airflow.describe.dr import dr_dag_id, dr_task
from lakehouse_airflow.describe.maintenance import maintenance_specs
from lakehouse_airflow.monitor.metrics import render
from lakehouse_airflow.monitor.restore_points import record_dr_step
from lakehouse_airflow.monitor.store import MonitorStore
from lakehouse_airflow.operators.secrets import object_store_env
from lakehouse_contract import naming
from lakehouse_contract.layout import step_result_path
from lakehouse_contract.naming import Location
from lakehouse_contract.storage import ObjectUri
from seed.activity import ActivityRequest, apply_activity
from seed.load import current_seed
from spark_jobs.jobs import dispatch
from spark_jobs.jobs.dr import points
from support import s3 as objects
from support.dagrun import LOAD_STAMPS, pipeline_dir
from support.env import IT_SCHEMA, IT_SF, sh
from support.inprocess import Run, run_pipeline, task_args

DR_SCHEMA = "it_dr"
DAYS = ("2026-11-21", "2026-11-22")
FOCUS = ("orders", "order_details")
WALL_CLOCKS = LOAD_STAMPS | {"record_id", "load_timestamp", "processing_time", "extract_seconds", "write_seconds"}


def _state(spark, s3, root: str, drop: set[str], only=None) -> dict[str, list]:
    """Every table under the root (control tables included; or those ``only`` accepts), sorted rows
    without ``drop``."""
    out = {}
    for table in filter(only, objects.delta_tables(s3, root)):
        frame = spark.read.format("delta").load(f"{root}/{table}")
        wall_clock = {"updated_at"} if drop and table.endswith("bz_watermarks") else set()  # the registry's
        kept = [c for c in frame.columns if c not in drop | wall_clock]
        out[table] = sorted(map(tuple, frame.select(*kept).collect()), key=repr)
    return out


def _converges(table: str) -> bool:
    """Silver and gold hold state; DQ results (and executive_summary, which reports them) measure
    what each run read, which a rerun over a source that moved on reads differently."""
    per_run = ("inventory_silver/dq_results", "inventory_gold/executive_summary")
    return table.startswith(("inventory_silver/", "inventory_gold/")) and table not in per_run


def _versions(spark, s3, root: str) -> dict[str, int]:
    return {
        t: spark.sql(f"DESCRIBE HISTORY delta.`{root}/{t}` LIMIT 1").first()["version"]
        for t in objects.delta_tables(s3, root)
    }


@dataclass
class Dr:
    cfg: PipelineConfig
    primary: str
    replica: str
    p1: str
    p1_point: dict  # the point as the job wrote it into the lakehouse
    at_p1: dict[str, list]  # every table at P1, exactly
    after_days: dict[str, list]  # every table after the two days, wall clocks left out
    replicated: list[dict]  # the two replicate step results' metrics
    restored: dict[str, list]
    rerun: dict[str, list]
    rebuilt: dict[str, list]
    env: dict[str, str]
    seconds: dict[str, float]  # per phase of the scenario (printed with -s)


def _dr(cfg: PipelineConfig, s3, root: str, action: str, replica: str = "", point: str = "") -> dict:
    """One ``dr`` job in this process (the task's arguments, as the DR DAG renders them), recorded in
    the ETL monitor as the DR DAG's listener records its successful tasks: its metrics."""
    task = dr_task(cfg, action, replica, point)  # type: ignore[arg-type]
    run = Run(DAYS[-1], f"dr__{action}_{uuid.uuid4().hex[:6]}")
    assert dispatch(task_args(cfg, task, run, root)) == 0, f"dr {action} failed"  # type: ignore[arg-type]
    assert record_dr_step(_monitor(cfg), cfg, dr_dag_id(cfg), run.run_id, action, root)
    where = ObjectUri.parse(step_result_path(root, dr_dag_id(cfg), run.run_id, action, "dr"))
    return json.loads(s3.get_object(Bucket=where.bucket, Key=where.key)["Body"].read())["metrics"]


def _monitor(cfg: PipelineConfig) -> MonitorStore:
    store = MonitorStore(cfg.monitor.conn_id, cfg.monitor.schema_name)
    store.setup()
    return store


def _recorded(cfg: PipelineConfig, point_id: str) -> dict:
    columns, rows = _monitor(cfg).query(
        "SELECT * FROM __SCHEMA__.restore_points WHERE workflow_id = %s AND point_id = %s", (cfg.dag_id, point_id)
    )
    (row,) = rows
    return dict(zip(columns, row, strict=True))


def _days(cfg: PipelineConfig, root: str, dsn: str, activity: bool) -> None:
    """The days' runs of FOCUS; gold (a full recompute from silver) once, with the last day, which
    is what the last day's run leaves behind (~1 min less of S3 runs per pass)."""
    for day in DAYS:
        if activity:
            apply_activity(ActivityRequest(dsn, DR_SCHEMA, *source_window(cfg, day)))
        layers = ("bronze", "silver", "gold") if day == DAYS[-1] else ("bronze", "silver")
        run_pipeline(cfg, Run(day, f"scheduled__{day}", FOCUS), root, layers)  # type: ignore[arg-type]


def _compared_after_days(table: str) -> bool:
    """What the day-runs are compared on: the converging tables, the watermarks, a bronze table."""
    return _converges(table) or table in ("inventory_bronze/bz_watermarks", "inventory_bronze/bz_orders")


@pytest.fixture(scope="module")
def dr(first, stack, spark, tmp_path_factory) -> Dr:
    sh("scripts/locals3.sh up", env=stack, timeout=1200)
    os.environ.update(object_store_env("lakehouse_s3"))  # what the operator gives a job at execute time
    sh(["python", "-m", "seed", "--schema", DR_SCHEMA, "--sf", str(IT_SF), "--force"], env=stack)
    dsn = stack["AIRFLOW_CONN_INVENTORY_SOURCE"]
    import psycopg

    with psycopg.connect(dsn) as conn:  # the shared run's lakehouse is this schema's full load
        assert current_seed(conn, DR_SCHEMA) == current_seed(conn, IT_SCHEMA)
    tmp = tmp_path_factory.mktemp("dr")
    cfg = load_pipeline(pipeline_dir(tmp, "inventory", lambda raw: raw["source"].update(schema=DR_SCHEMA))
                        / "inventory.yaml")  # fmt: skip
    s3 = objects.client(stack)
    seconds: dict[str, float] = {}
    clock = [time.monotonic()]

    def lap(name: str) -> None:
        seconds[name], clock[0] = round(time.monotonic() - clock[0], 1), time.monotonic()

    tag = uuid.uuid4().hex[:8]
    primary_bucket, replica_bucket = f"dr-primary-{tag}", f"dr-replica-{tag}"
    for bucket in (primary_bucket, replica_bucket):
        s3.create_bucket(Bucket=bucket)
    primary, replica = f"s3a://{primary_bucket}/lake", f"s3a://{replica_bucket}/lake"
    objects.upload_lake(s3, first.lake, primary)
    lap("upload")

    _dr(cfg, s3, primary, "restore_point")
    (p1,) = points(primary)
    p1_point = json.loads(p1.to_json())
    lap("restore_point")
    at_p1 = _state(spark, s3, primary, set())
    lap("state")
    replicated = [_dr(cfg, s3, primary, "replicate", replica), _dr(cfg, s3, primary, "replicate", replica)]
    lap("replicate x2")

    _days(cfg, primary, dsn, activity=True)
    lap("two days")
    after_days = _state(spark, s3, primary, WALL_CLOCKS, _compared_after_days)

    _dr(cfg, s3, primary, "restore", point=p1.id)
    lap("restore")
    restored = _state(spark, s3, primary, set())
    _days(cfg, primary, dsn, activity=False)  # the source kept the two days: the next runs reload them
    lap("two days again")
    rerun = _state(spark, s3, primary, WALL_CLOCKS, _compared_after_days)

    for key in objects.keys(s3, f"s3a://{primary_bucket}/lake"):  # the primary bucket is lost
        s3.delete_object(Bucket=primary_bucket, Key=key)
    s3.delete_bucket(Bucket=primary_bucket)
    _dr(cfg, s3, primary, "rebuild", replica, p1.id)
    lap("rebuild")
    rebuilt = _state(spark, s3, primary, set())
    print("dr scenario seconds:", seconds)
    return Dr(
        cfg, primary, replica, p1.id, p1_point, at_p1, after_days, replicated, restored, rerun, rebuilt, stack, seconds
    )


def test_a_replica_is_incremental_and_verified(dr) -> None:
    first_copy, second_copy = dr.replicated
    assert first_copy["restore_point"] == second_copy["restore_point"] == dr.p1
    assert first_copy["files_copied"] > 100 and first_copy["bytes_copied"] > 0
    assert second_copy["files_copied"] == 0 and second_copy["files_skipped"] == first_copy["files_copied"]
    assert first_copy["rows_verified"] == second_copy["rows_verified"] > 0
    assert first_copy["tables"] == len(dr.at_p1) == 39


def test_restore_brings_every_table_back_and_the_next_runs_converge(dr) -> None:
    bronze = "inventory_bronze/bz_orders"
    assert len(dr.after_days[bronze]) > len(dr.at_p1[bronze])  # the two days added slices
    assert dr.restored == dr.at_p1  # exactly, watermarks and audit log included
    # as if the two days had never been lost: silver, gold and the watermarks converge (bronze slices
    # and the audit log record what each run read: the source no longer has a row's D1 version
    # once D2 updated it, so the rerun's slices differ by design)
    converged = {t: r for t, r in dr.rerun.items() if _converges(t)}
    assert converged == {t: r for t, r in dr.after_days.items() if _converges(t)} and len(converged) == 25
    marks = "inventory_bronze/bz_watermarks"  # table, column, high-water mark, mode, run, date (not rows_loaded)
    assert [r[:6] for r in dr.rerun[marks]] == [r[:6] for r in dr.after_days[marks]]


def test_rebuild_from_the_replica_after_the_primary_bucket_is_gone(dr) -> None:
    assert dr.rebuilt == dr.at_p1


def test_the_monitor_records_the_point_its_verified_replica_and_the_restores(dr) -> None:
    row = _recorded(dr.cfg, dr.p1)
    assert row["versions"] == dr.p1_point["versions"] and row["tables"] == len(dr.p1_point["versions"]) == 39
    assert row["taken_at"] == dt.datetime.fromisoformat(dr.p1_point["taken_at"])
    assert row["lakehouse_root"] == dr.primary and row["taken_by"].startswith(f"{dr_dag_id(dr.cfg)}/dr__restore_point_")
    assert row["replica_root"] == dr.replica and row["rows_verified"] == dr.replicated[-1]["rows_verified"]
    assert row["taken_at"] < row["replicated_at"] < row["restored_at"]  # restored, then rebuilt from the replica


def test_restore_across_the_vacuum_horizon_is_refused_and_changes_nothing(dr, spark, stack) -> None:
    s3 = objects.client(stack)
    # gold recomputed (as any later run does): P1's gold files are now unreferenced
    run_pipeline(dr.cfg, Run(DAYS[0], f"scheduled__{DAYS[0]}", FOCUS), dr.primary, ("gold",))  # type: ignore[arg-type]
    # the maintenance DAG's job on the object store: OPTIMIZE + VACUUM (168 h) of the gold models
    gold_models = next(t for t in maintenance_specs(dr.cfg) if t.task_id == "gold_models")
    assert dispatch(task_args(dr.cfg, gold_models, Run(DAYS[0], "maintenance__s3"), dr.primary)) == 0  # type: ignore[arg-type]
    maintained = spark.read.format("delta").load(Location(dr.primary).path(naming.maintenance_log(naming.Schemas())))
    assert {(r.table_name, r.status) for r in maintained.collect()} == {
        (f"inventory_gold.{m}", "SUCCESS") for m in dr.cfg.gold.models
    }
    env = {**stack, "LAKEHOUSE_PIPELINES_DIR": str(dr.cfg.base_dir), "LAKEHOUSE_ROOT": dr.primary}
    taken = sh(["python", "-m", "lakehouse_airflow.dr", "restore-point"], env=env)  # the CLI records it too
    assert "recorded in the ETL monitor" in taken.stdout, taken.stdout + taken.stderr
    newest = points(dr.primary)[-1]
    assert _recorded(dr.cfg, newest.id)["versions"] == newest.versions
    assert _recorded(dr.cfg, newest.id)["taken_by"].startswith(f"{dr_dag_id(dr.cfg)}/dr_cli__")
    p1_restored, p2 = _recorded(dr.cfg, dr.p1)["restored_at"], newest.id
    gold = f"{dr.primary}/inventory_gold/daily_sales"  # gold is recomputed: P1's files are now unreferenced
    spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "false")
    try:
        spark.sql(f"VACUUM delta.`{gold}` RETAIN 0 HOURS").collect()
    finally:
        spark.conf.set("spark.databricks.delta.retentionDurationCheck.enabled", "true")
    before, versions = _state(spark, s3, dr.primary, set()), _versions(spark, s3, dr.primary)
    cli = sh(["python", "-m", "lakehouse_airflow.dr", "restore", "--point", dr.p1], env=env, check=False)
    out = cli.stdout + cli.stderr
    assert cli.returncode != 0
    assert f"restore point {dr.p1}" in out and "VACUUM horizon" in out and "inventory_gold.daily_sales" in out
    assert f"the oldest reachable restore point is {p2}" in out
    assert _versions(spark, s3, dr.primary) == versions and _state(spark, s3, dr.primary, set()) == before
    assert _recorded(dr.cfg, dr.p1)["restored_at"] == p1_restored  # a refused restore is not recorded
    # /metrics: the data age a restore would bring back (the newest point; the newest with a replica)
    metrics = {(f.name, s.labels.get("dag_id")): s.value for f in text_string_to_metric_families(
        render([_monitor(dr.cfg)]).decode()) for s in f.samples}  # fmt: skip
    age = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(points(dr.primary)[-1].taken_at)).total_seconds()
    assert abs(metrics[("lakehouse_restore_point_age_seconds", dr.cfg.dag_id)] - age) < 5
    replica_age = (dt.datetime.now(dt.UTC) - dt.datetime.fromisoformat(dr.p1_point["taken_at"])).total_seconds()
    assert abs(metrics[("lakehouse_replica_age_seconds", dr.cfg.dag_id)] - replica_age) < 5
    listed = sh(["python", "-m", "lakehouse_airflow.dr", "list"], env=env).stdout
    assert dr.p1 in listed and p2 in listed
    assert objects.credentials(stack)["secret"] not in out + listed + taken.stdout + taken.stderr
