"""``cadence: hourly`` without services: the pipeline's DAGs by cadence (the issue's strategy table:
CDC, hourly micro-batches, daily batch), the main DAG's wait on the hourly bronze, the specs the
hourly jobs get, and the configurations that are refused."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse_airflow.config import PipelineConfigError, load_pipeline
from support.shipped import build_variant, shipped_raw, with_cadence

HOURLY = ("shipments", "returns", "stock_levels")
CDC = ("inventory", "orders", "order_details")
BRONZE_STEPS = ("validate_connection", "extract", "write_bronze", "audit")


def _raw() -> dict:
    return with_cadence(shipped_raw(), "hourly", HOURLY)  # the micro-batch tables (incremental)


def _dags(tmp_path: Path, with_cdc: bool = True) -> dict:
    raw = with_cadence(_raw(), "cdc", CDC if with_cdc else ())
    raw["hourly"] = {"schedule": "5 * * * *", "wait_minutes": 30}
    return build_variant(tmp_path, raw)


def test_hourly_tables_get_their_own_dag_of_bronze_and_the_main_dag_waits_for_their_slices(tmp_path: Path) -> None:
    from airflow.sdk import Asset

    from lakehouse_airflow.operators.caught_up import CaughtUpSensor

    dags = _dags(tmp_path)
    main, hourly, cdc = dags["inventory_lakehouse"], dags["inventory_lakehouse_hourly"], dags["inventory_lakehouse_cdc"]
    # the hourly DAG: only the hourly tables' bronze groups (silver and gold stay daily)
    assert set(hourly.task_dict) == {f"{t}.{s}" for t in HOURLY for s in BRONZE_STEPS} | {"summary"}
    assert hourly.timetable.expression == "5 * * * *" and hourly.max_active_runs == 1 and "hourly" in hourly.tags
    args = hourly.task_dict["shipments.extract"].application_args[2]
    assert '"dag_id":"inventory_lakehouse_hourly"' in args and '"hourly":true' in args  # each run owns its hour
    assert '"hourly":true' in hourly.task_dict["shipments.write_bronze"].application_args[2]
    # each task in exactly one DAG
    ids = [set(d.task_dict) - {"summary", "cdc_slots"} for d in (main, hourly, cdc)]
    assert not (ids[0] & ids[1]) and not (ids[0] & ids[2]) and not (ids[1] & ids[2])
    # the main DAG: the hourly tables' silver waits for their bronze to cover the day
    wait = main.task_dict["inventory_bronze.hourly_landed"]
    assert isinstance(wait, CaughtUpSensor) and wait.mode == "reschedule" and wait.timeout == 30 * 60
    assert wait.source_dag_id == "inventory_lakehouse_hourly" and wait.lakehouse_tables == HOURLY
    assert {a.uri for a in wait.inlets if isinstance(a, Asset)} == {
        f"x-lakehouse://inventory_bronze/bz_{t}" for t in HOURLY
    }
    for table in HOURLY:
        assert "inventory_bronze.hourly_landed" in main.task_dict[f"inventory_silver.{table}"].upstream_task_ids
    assert "inventory_silver.cdc_caught_up" in main.task_dict  # both waits side by side
    # the daily batch tables keep their own chain, no wait
    assert "products.audit" in main.task_dict["inventory_silver.products"].upstream_task_ids
    assert "inventory_bronze.hourly_landed" not in main.task_dict["inventory_silver.products"].upstream_task_ids
    # the trigger form offers the tables whose tasks the main DAG holds (the hourly ones: their silver)
    assert main.params.get_param("tables").schema["items"]["enum"] == [
        "products", "suppliers", "warehouses", "customers", "shipments", "returns", "stock_levels"
    ]  # fmt: skip
    assert hourly.params.get_param("tables").schema["items"]["enum"] == list(HOURLY)


def test_hourly_tables_alone_make_two_dags(tmp_path: Path) -> None:
    dags = _dags(tmp_path, with_cdc=False)
    assert {d for d in dags if d.startswith("inventory_lakehouse") and not d.endswith(("maintenance", "_dr"))} == {
        "inventory_lakehouse", "inventory_lakehouse_hourly"
    }  # fmt: skip
    assert not any("cdc_caught_up" in t for t in dags["inventory_lakehouse"].task_dict)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda raw: raw["tables"]["customers"].update(cadence="hourly", load_mode="full"),
         "tables.customers.cadence: hourly loads each hour's window: the table needs load_mode: incremental"),
    ],
)  # fmt: skip
def test_an_hourly_table_that_cannot_load_by_the_hour_is_refused(tmp_path: Path, change, message) -> None:
    raw = _raw()
    change(raw)
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineConfigError, match=message):
        load_pipeline(tmp_path / "p.yaml")


def test_workflow_compute_refuses_the_hourly_wait(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from lakehouse_airflow.build.dag import build_dag

    (tmp_path / "p.yaml").write_text(yaml.safe_dump(_raw()))
    monkeypatch.setenv("LAKEHOUSE_ENV", "emulated_workflow")
    with pytest.raises(PipelineConfigError, match="cannot wait in inventory_bronze.hourly_landed"):
        build_dag(load_pipeline(tmp_path / "p.yaml"))
