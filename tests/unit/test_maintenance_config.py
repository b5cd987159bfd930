"""The Delta maintenance DAG: config, tasks and specs, both backends (no service)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse_airflow.build.dag import build_all
from lakehouse_airflow.build.maintenance import build_maintenance_dag
from lakehouse_airflow.config import PipelineConfigError, load_pipeline
from lakehouse_contract.specs import MaintainSpec
from support.specs import spec_of

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
CFG = load_pipeline(SHIPPED)


def _spec(task) -> MaintainSpec:
    spec = spec_of(task.application_args)
    assert isinstance(spec, MaintainSpec)
    return spec


def test_maintenance_dag_per_pipeline_weekly_with_one_task_per_table() -> None:
    dags = build_all(str(SHIPPED.parent))
    dag = dags["inventory_lakehouse_maintenance"]
    assert dag.timetable.expression == "0 3 * * 0" and str(dag.timetable.timezone.name) == "Asia/Kolkata"
    assert type(dag.timetable).__name__ == "CronTriggerTimetable"  # no data interval: nothing to load
    assert dag.catchup is False and dag.max_active_runs == 1 and "maintenance" in dag.tags
    expected = [f"maintenance.{t.name}" for t in CFG.ordered_tables()]
    assert dag.task_ids == [*expected, "maintenance.gold_models", "maintenance.control_tables"]
    assert all(not t.upstream_task_ids for t in dag.tasks)  # independent: one table's failure stops nothing
    inventory = _spec(dag.get_task("maintenance.inventory"))
    assert inventory.tables == (
        "inventory_bronze.bz_inventory", "inventory_silver.inventory", "inventory_silver.inventory_quarantine"
    )  # fmt: skip
    assert (inventory.zorder, inventory.retention_hours) == (("product_id", "warehouse_id"), 168)
    assert inventory.dag_id == "inventory_lakehouse_maintenance"
    # a maintenance DAG has no data interval and no params: its tasks render only what it has
    args = dag.get_task("maintenance.inventory").application_args
    assert [a for a in args if a.startswith("--")] == ["--spec", "--run-id", "--try-number", "--logical-date"]
    assert _spec(dag.get_task("maintenance.orders")).zorder == ("customer_id", "order_date")
    gold = _spec(dag.get_task("maintenance.gold_models")).tables
    assert gold == tuple(f"inventory_gold.{m}" for m in CFG.gold.models)
    control = _spec(dag.get_task("maintenance.control_tables")).tables
    assert control == ("inventory_bronze.bz_audit_log", "inventory_bronze.bz_watermarks",
                       "inventory_silver.dq_results", "inventory_bronze.bz_maintenance_log")  # fmt: skip


def test_maintenance_runs_on_databricks_through_the_same_factory(monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse_airflow.databricks.operator import LakehouseDatabricksSubmitRunOperator

    monkeypatch.setenv("LAKEHOUSE_ENV", "uat")
    task = build_maintenance_dag(CFG).get_task("maintenance.orders")
    assert isinstance(task, LakehouseDatabricksSubmitRunOperator)
    params = task.json["tasks"][0]["spark_python_task"]["parameters"]
    assert params[0] == "maintain" and spec_of(params).location.catalog == "workspace_uat"


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
