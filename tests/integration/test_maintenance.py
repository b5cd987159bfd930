"""The Delta maintenance DAG (config, tasks, backends) and the ``maintain`` job on real Delta tables."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import yaml

from lakehouse_airflow.build.dag import build_all
from lakehouse_airflow.build.maintenance import build_maintenance_dag, maintenance_specs
from lakehouse_airflow.config import PipelineConfigError, load_pipeline
from spark_jobs.jobs import dispatch
from spark_jobs.jobs.maintain import RetentionTooShortError
from spark_jobs.storage.delta_io import STATS_COLUMNS, table_properties
from spark_jobs.storage.tables import bronze_table, table_ref

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
CFG = load_pipeline(SHIPPED)


def _flags(args: list[str] | tuple[str, ...]) -> dict[str, str]:
    return {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}


def test_maintenance_dag_per_pipeline_weekly_with_one_task_per_table() -> None:
    dags = build_all(str(SHIPPED.parent))
    dag = dags["inventory_lakehouse_maintenance"]
    assert dag.timetable.expression == "0 3 * * 0" and str(dag.timetable.timezone.name) == "Asia/Kolkata"
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"  # no data interval: nothing to load
    assert dag.catchup is False and dag.max_active_runs == 1 and "maintenance" in dag.tags
    expected = [f"maintenance.{t.name}" for t in CFG.ordered_tables()]
    assert dag.task_ids == [*expected, "maintenance.gold_models", "maintenance.control_tables"]
    assert all(not t.upstream_task_ids for t in dag.tasks)  # independent: one table's failure stops nothing
    inventory = _flags(dag.get_task("maintenance.inventory").application_args)
    assert (
        inventory["--tables"]
        == "inventory_bronze.bz_inventory,inventory_silver.inventory,inventory_silver.inventory_quarantine"
    )
    assert (inventory["--zorder"], inventory["--retention-hours"]) == ("product_id,warehouse_id", "168")
    assert _flags(dag.get_task("maintenance.orders").application_args)["--zorder"] == "customer_id,order_date"
    gold = _flags(dag.get_task("maintenance.gold_models").application_args)["--tables"].split(",")
    assert gold == [f"inventory_gold.{m}" for m in CFG.gold.models]
    control = _flags(dag.get_task("maintenance.control_tables").application_args)["--tables"]
    assert "inventory_bronze.bz_audit_log" in control and "inventory_bronze.bz_maintenance_log" in control


def test_maintenance_runs_on_databricks_through_the_same_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse_airflow.databricks.operator import LakehouseDatabricksSubmitRunOperator

    monkeypatch.setenv("LAKEHOUSE_ENV", "prod")
    task = build_maintenance_dag(CFG).get_task("maintenance.orders")
    assert isinstance(task, LakehouseDatabricksSubmitRunOperator)
    params = task.json["tasks"][0]["spark_python_task"]["parameters"]
    assert params[0] == "maintain" and _flags(params)["--catalog"] == "prod"


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        (
            {"maintenance": {"retention_hours": 24}},
            "maintenance.retention_hours: Input should be greater than or equal to 168",
        ),
        ({"tables": {"orders": {"zorder": ["nope"]}}}, "zorder names columns not in columns: ['nope']"),
    ],
)
def test_invalid_maintenance_config_names_the_field(tmp_path: Path, patch: dict, message: str) -> None:
    from lakehouse_airflow.config import with_absolute_sql_paths

    raw = with_absolute_sql_paths(yaml.safe_load(SHIPPED.read_text()), SHIPPED)
    for key, value in patch.items():
        if key == "tables":
            raw["tables"]["orders"].update(value["orders"])
        else:
            raw[key] = value
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline(tmp_path / "p.yaml")
    assert message in str(err.value) and str(tmp_path / "p.yaml") in str(err.value)


def test_maintenance_can_be_disabled(tmp_path: Path) -> None:
    from lakehouse_airflow.config import with_absolute_sql_paths

    raw = with_absolute_sql_paths(yaml.safe_load(SHIPPED.read_text()), SHIPPED)
    raw["maintenance"] = {"enabled": False}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    assert list(build_all(str(tmp_path))) == ["inventory_lakehouse"]


# -- the maintain job on real Delta tables ------------------------------------------------------------


def _run(tmp_path: Path, tables: str, *extra: str) -> int:
    spec = next(s for s in maintenance_specs(CFG) if s.task_id == "orders")
    args = [a.replace("{{ dag.dag_id }}", "m").replace("{{ run_id }}", "run-1").replace("{{ ti.try_number }}", "1")
            .replace("{{ ds }}", "2026-11-22") for a in spec.args]  # fmt: skip
    args[args.index("--lakehouse-root") + 1] = str(tmp_path)
    args[args.index("--tables") + 1] = tables
    return dispatch([spec.job, *args, *extra])


def test_maintain_compacts_small_files_and_keeps_time_travel(spark, tmp_path: Path) -> None:  # noqa: ANN001
    ref = bronze_table(str(tmp_path), "inventory_bronze", "orders")
    for batch in range(8):  # eight small commits -> at least eight files
        rows = [(batch * 100 + i, i % 7, f"2026-11-{10 + i % 5:02d}") for i in range(50)]
        frame = spark.createDataFrame(rows, "order_id bigint, customer_id bigint, order_date string")
        # made with statistics on its key only: Z-ORDER needs them on its columns too
        ref.save(frame.repartition(2).write.mode("append").option(STATS_COLUMNS, "order_id"))
    before = spark.sql(f"DESCRIBE DETAIL {ref.sql_name}").first()["numFiles"]
    first_version = sorted(map(tuple, spark.read.format("delta").option("versionAsOf", 0).load(ref.path).collect()))
    assert before >= 8

    assert _run(tmp_path, "inventory_bronze.bz_orders,inventory_silver.orders") == 0

    detail = spark.sql(f"DESCRIBE DETAIL {ref.sql_name}").first()
    assert detail["numFiles"] < before and detail["numFiles"] <= 2
    assert ref.read(spark).count() == 400  # same data
    # VACUUM kept every file younger than the retention: version 0 still reads, unchanged
    assert (
        sorted(map(tuple, spark.read.format("delta").option("versionAsOf", 0).load(ref.path).collect()))
        == first_version
    )
    history = spark.sql(f"DESCRIBE HISTORY {ref.sql_name}").select("operation", "operationParameters").collect()
    optimize = next(h for h in history if h["operation"] == "OPTIMIZE")
    assert json.loads(optimize["operationParameters"]["zOrderBy"]) == ["customer_id", "order_date"]
    log = {
        r["table_name"]: r
        for r in table_ref(str(tmp_path), "inventory_bronze", "bz_maintenance_log").read(spark).collect()
    }
    assert log["inventory_bronze.bz_orders"]["status"] == "SUCCESS"
    assert (log["inventory_bronze.bz_orders"]["files_before"], log["inventory_bronze.bz_orders"]["files_after"]) == (
        before,
        detail["numFiles"],
    )
    assert log["inventory_bronze.bz_orders"]["zorder_by"] == "customer_id,order_date"
    assert table_properties(spark, ref)[STATS_COLUMNS] == "order_id,customer_id,order_date"
    assert log["inventory_bronze.bz_orders"]["files_deleted_by_vacuum"] == 0
    assert log["inventory_silver.orders"]["status"] == "SKIPPED"  # not created yet: nothing to do


def test_maintain_refuses_a_retention_below_seven_days(spark, tmp_path: Path) -> None:  # noqa: ANN001
    ref = bronze_table(str(tmp_path), "inventory_bronze", "orders")
    for batch in range(3):
        ref.save(
            spark.createDataFrame(
                [(batch, 1, "2026-11-10")], "order_id bigint, customer_id bigint, order_date string"
            ).write.mode("append")
        )
    files = spark.sql(f"DESCRIBE DETAIL {ref.sql_name}").first()["numFiles"]
    with pytest.raises(RetentionTooShortError, match="below the 168 h guard"):
        _run(tmp_path, "inventory_bronze.bz_orders", "--retention-hours", "0")
    assert spark.sql(f"DESCRIBE DETAIL {ref.sql_name}").first()["numFiles"] == files  # nothing touched
    assert not table_ref(str(tmp_path), "inventory_bronze", "bz_maintenance_log").exists()


def test_maintenance_dag_end_to_end_leaves_the_data_unchanged(stack, spark, first, tmp_path: Path) -> None:  # noqa: ANN001
    """The whole maintenance DAG through `airflow dags test` on a copy of the shared full run,
    cut down to the orders tables, one gold model and the control tables (the others are SKIPPED
    as not created yet: the same tasks run, in a third of the time)."""
    import shutil

    from support.dagrun import dags_test, state

    lake = tmp_path / "lake"
    shutil.copytree(first.lake, lake)
    keep = {"bz_orders", "orders", "orders_quarantine", "daily_sales", "bz_audit_log", "bz_watermarks", "dq_results"}
    for layer in ("inventory_bronze", "inventory_silver", "inventory_gold"):
        for table in (lake / layer).iterdir():
            if table.name not in keep:
                shutil.rmtree(table)
    before = state(spark, lake)
    result = dags_test(stack, first.pipelines, lake, "inventory_lakehouse_maintenance")
    assert result.returncode == 0, result.stdout[-4000:]
    log = table_ref(str(lake), "inventory_bronze", "bz_maintenance_log").read(spark).collect()
    statuses = {r["table_name"]: r["status"] for r in log}
    assert statuses["inventory_bronze.bz_orders"] == statuses["inventory_silver.orders"] == "SUCCESS"
    assert statuses["inventory_gold.daily_sales"] == "SUCCESS"
    assert "FAILED" not in statuses.values()
    assert statuses["inventory_bronze.bz_products"] == statuses["inventory_gold.returns_by_reason"] == "SKIPPED"
    assert len(statuses) == sum(len(s.args[s.args.index("--tables") + 1].split(",")) for s in maintenance_specs(CFG))
    assert state(spark, lake) == before  # compaction rewrites files, never rows
    history = spark.sql(f"DESCRIBE HISTORY delta.`{lake / 'inventory_silver' / 'orders'}`").collect()
    assert any(h["operation"] == "OPTIMIZE" for h in history)
    # recorded in the ETL monitor as its own weekly process, one DONE step per task with what it did
    from lakehouse_airflow.monitor.store import MonitorStore

    (run_id,) = {r["run_id"] for r in log}
    monitor = MonitorStore(CFG.monitor.conn_id, CFG.monitor.schema_name)
    _, steps = monitor.query(
        "SELECT task_id, status, message FROM __SCHEMA__.processing_steps WHERE workflow_id = %s AND run_id = %s",
        ("inventory_lakehouse_maintenance", run_id),
    )
    assert {t for t, _, _ in steps} == {s.full_id for s in maintenance_specs(CFG)}
    assert {status for _, status, _ in steps} == {"DONE"}
    assert re.fullmatch(r"3 tables, files \d+ -> \d+", {t: m for t, _, m in steps}["maintenance.orders"])
    _, process = monitor.query(
        "SELECT frequency FROM __SCHEMA__.process_registry WHERE workflow_id = 'inventory_lakehouse_maintenance'"
    )
    assert process == [("WEEKLY",)]
