"""ETL monitor without services: catalogue from the config, processing modes, the plugin wiring,
config validation, the terminal table."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from lakehouse_airflow.build.dag import build_dag
from lakehouse_airflow.config import PipelineConfigError, load_pipeline, with_absolute_sql_paths
from lakehouse_airflow.monitor.catalogue import catalogue, parameters
from lakehouse_airflow.monitor.store import ddl, processing_mode
from lakehouse_airflow.monitor.text import table

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
CFG = load_pipeline(SHIPPED)


def test_catalogue_is_the_dag_in_run_order_with_stages_and_steps() -> None:
    dag = build_dag(CFG)
    entries = catalogue(CFG)
    # every task but the run's summary (it reads the monitor), nothing invented
    assert [e.task_id for e in entries] == [t.task_id for t in dag.tasks if t.task_id != "summary"]
    assert [e.sequence_id for e in entries] == list(range(1, len(entries) + 1))
    assert [e.stage for e in entries] == sorted(e.stage for e in entries)  # bronze, then silver, then gold
    by_id = {e.task_id: e for e in entries}
    assert (by_id["orders.extract"].stage, by_id["orders.extract"].step, by_id["orders.extract"].table_name) == (
        1, "extract", "orders",
    )  # fmt: skip
    assert by_id["orders.audit"].step is None and by_id["orders.validate_connection"].step is None
    assert (by_id["inventory_silver.orders"].layer, by_id["inventory_silver.orders"].step) == ("silver", "silver")
    assert (by_id["inventory_gold.daily_sales"].stage, by_id["inventory_gold.daily_sales"].step) == (3, "gold")
    assert {e.sla_minutes for e in entries} == {CFG.monitor.task_sla_minutes}
    assert all(e.mandatory for e in entries)


def test_table_settings_reach_the_catalogue(tmp_path: Path) -> None:
    raw = with_absolute_sql_paths(yaml.safe_load(SHIPPED.read_text()), SHIPPED)
    raw["tables"]["returns"].update({"mandatory": False, "sla_minutes": 5})
    raw["monitor"] = {"task_sla_minutes": 45, "schema": "ops_monitor"}
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_pipeline(tmp_path / "p.yaml")
    by_id = {e.task_id: e for e in catalogue(cfg)}
    assert (by_id["returns.extract"].mandatory, by_id["returns.extract"].sla_minutes) == (False, 5)
    assert (by_id["inventory_silver.returns"].mandatory, by_id["inventory_silver.returns"].sla_minutes) == (False, 5)
    assert (by_id["orders.extract"].mandatory, by_id["orders.extract"].sla_minutes) == (True, 45)
    assert "CREATE SCHEMA IF NOT EXISTS ops_monitor;" in ddl(cfg.monitor.schema_name)
    assert "__SCHEMA__" not in ddl("ops_monitor")


@pytest.mark.parametrize(
    ("monitor", "expected"),
    [
        ({"schema": "Bad-Name"}, "monitor.schema"),
        ({"task_sla_minutes": 0}, "monitor.task_sla_minutes"),
        ({"unknown": 1}, "monitor.unknown"),
    ],
)
def test_invalid_monitor_settings_name_the_field(tmp_path: Path, monitor: dict, expected: str) -> None:
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["monitor"] = monitor
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineConfigError, match=re.escape(expected)):
        load_pipeline(tmp_path / "p.yaml")


def test_parameters_cover_every_type() -> None:
    params = parameters(CFG)
    assert {p.param_type for p in params} == {"DELTA_DATE", "DELTA_ID", "FLAG", "SYSTEM"}
    dates = [p for p in params if p.param_type == "DELTA_DATE"]
    assert [p.table_name for p in dates] == [t.name for t in CFG.ordered_tables()]
    assert all(p.task_id == f"{p.table_name}.write_bronze" for p in dates)
    assert next(p for p in params if p.name == "source_system").text_value == CFG.source.system


@pytest.mark.parametrize(
    ("run_type", "mode", "expected"),
    [("scheduled", "incremental", "LIVE"), ("manual", None, "LIVE"), ("backfill", "incremental", "HISTORIC"),
     ("scheduled", "full", "BULK"), ("backfill", "full", "BULK")],
)  # fmt: skip
def test_processing_modes(run_type: str, mode: str | None, expected: str) -> None:
    assert processing_mode(run_type, mode) == expected


def test_a_run_for_a_past_date_is_historic() -> None:
    import datetime as dt

    end = dt.datetime(2026, 11, 20, 20, 30, tzinfo=dt.UTC)
    interval = (end - dt.timedelta(days=1), end)
    assert processing_mode("scheduled", "incremental", interval, end) == "LIVE"  # due at the interval's end
    assert processing_mode("manual", "incremental", interval, end + dt.timedelta(hours=20)) == "LIVE"
    assert processing_mode("manual", "incremental", interval, end + dt.timedelta(days=3)) == "HISTORIC"
    assert processing_mode("manual", "full", interval, end + dt.timedelta(days=3)) == "BULK"


def test_plugin_registers_the_listener_and_the_metrics_app() -> None:
    import lakehouse_monitor_plugin as plugin

    from lakehouse_airflow.monitor import listener

    assert plugin.LakehousePlugin.listeners == [listener]
    (app,) = plugin.LakehousePlugin.fastapi_apps
    assert app["url_prefix"] == "/metrics" and app["app"] is plugin.metrics_app
    hooks = {name for name in dir(listener) if name.startswith("on_")}
    assert hooks == {
        "on_dag_run_running", "on_dag_run_success", "on_dag_run_failed", "on_task_instance_running",
        "on_task_instance_success", "on_task_instance_failed", "on_task_instance_skipped",
    }  # fmt: skip
    # only the plugin entry module is scanned by Airflow's plugin loader
    assert (ROOT / "plugins" / ".airflowignore").read_text().splitlines()[-1] == "lakehouse_airflow/"


def test_terminal_table() -> None:
    text = table(["task", "rows"], [("orders.extract", 12), ("x", None)])
    assert text.splitlines() == [
        "task            rows",
        "--------------  ----",
        "orders.extract  12  ",
        "x                   ",
    ]
    assert table(["a"], []).endswith("(none)")


def _all_states(state: str) -> dict[str, str]:
    return {t.task_id: state for t in build_dag(CFG).tasks if t.task_id != "summary"}


def test_summary_lines_and_totals_of_a_clean_run() -> None:
    import datetime as dt

    from lakehouse_airflow.operators.summary import summarize, totals

    t0 = dt.datetime(2026, 11, 20, 20, 30, tzinfo=dt.UTC)
    steps = {
        "orders.extract": {"rows_read": 7, "start_time": t0, "end_time": t0 + dt.timedelta(seconds=3)},
        "orders.write_bronze": {"rows_written": 7, "start_time": t0, "end_time": t0 + dt.timedelta(seconds=2)},
    }
    lines = summarize(CFG, _all_states("success"), steps)
    assert [ln.name for ln in lines] == [t.name for t in CFG.ordered_tables()] + list(CFG.gold.models)
    orders = next(ln for ln in lines if ln.name == "orders")
    assert (orders.status, orders.rows_read, orders.rows_written, orders.seconds) == ("SUCCESS", 7, 7, 5.0)
    summary = totals(lines, t0, t0 + dt.timedelta(minutes=4))
    assert summary == {"tables_processed": 10, "tables_succeeded": 10, "tables_failed": 0, "gold_failed": 0,
                       "total_rows": 7, "total_seconds": 240.0}  # fmt: skip


def test_summary_counts_a_failed_table_and_what_it_blocked_and_skips_unselected_ones() -> None:
    import datetime as dt

    from lakehouse_airflow.operators.summary import render, summarize, totals

    states = _all_states("skipped")
    states.update({f"returns.{s}": "success" for s in ("validate_connection", "extract", "write_bronze", "audit")})
    states["inventory_silver.returns"] = "success"
    states.update({"orders.validate_connection": "failed", "orders.extract": "upstream_failed",
                   "orders.write_bronze": "upstream_failed", "orders.audit": "failed",
                   "inventory_silver.orders": "upstream_failed", "inventory_gold.daily_sales": "upstream_failed"})  # fmt: skip
    lines = {ln.name: ln for ln in summarize(CFG, states, {})}
    assert (lines["orders"].status, lines["returns"].status, lines["products"].status) == (
        "FAILED",
        "SUCCESS",
        "SKIPPED",
    )
    assert lines["daily_sales"].status == "FAILED"
    summary = totals(list(lines.values()), None, dt.datetime.now(dt.UTC))
    assert (summary["tables_processed"], summary["tables_succeeded"], summary["tables_failed"]) == (2, 1, 1)
    assert summary["gold_failed"] == 1 and summary["total_seconds"] is None
    assert "orders" in render(list(lines.values())) and "FAILED" in render(list(lines.values()))
    still_running = {**states, "inventory_silver.returns": "running"}
    assert {ln.name: ln for ln in summarize(CFG, still_running, {})}["returns"].status == "INCOMPLETE"


def test_without_a_monitor_connection_runs_are_untracked_not_broken(monkeypatch) -> None:
    from lakehouse_airflow.monitor import monitored, store

    monkeypatch.delenv("AIRFLOW_CONN_LAKEHOUSE_MONITOR", raising=False)
    monkeypatch.setattr(monitored, "_unavailable", set())
    monkeypatch.setattr(store, "_ready", set())  # as in a fresh process: nothing set up yet
    assert monitored.tracked(CFG.dag_id) is None
    assert monitored.monitor_stores() == []
    assert (CFG.monitor.conn_id, CFG.monitor.schema_name) in monitored._unavailable  # warned once, not retried
    assert monitored.tracked("not_a_pipeline") is None


def test_job_log_lines_are_json_with_the_correlation_id() -> None:
    import io
    import json
    import logging

    from spark_jobs.runtime import logs

    log = logs.configure({"dag_id": "d", "run_id": "r", "task_id": "orders.extract", "try_number": 2,
                          "table": "orders"}, "extract")  # fmt: skip
    stream = io.StringIO()
    log.handlers[0].setStream(stream)  # type: ignore[attr-defined]
    log.info("extract succeeded", extra={"fields": {"rows_read": 5}})
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("extract failed")
    first, second = (json.loads(line) for line in stream.getvalue().splitlines())
    assert {k: first[k] for k in ("dag_id", "run_id", "task_id", "try_number", "table", "job")} == {
        "dag_id": "d", "run_id": "r", "task_id": "orders.extract", "try_number": 2, "table": "orders", "job": "extract",
    }  # fmt: skip
    assert (first["level"], first["msg"], first["rows_read"]) == ("INFO", "extract succeeded", 5)
    assert second["level"] == "ERROR" and "boom" in second["error"]
    logging.getLogger("spark_jobs").handlers.clear()
