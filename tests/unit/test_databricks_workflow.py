"""``compute: workflow``: the DAG's shape, the job the launch creates, and the emulated service's
repair rules (in process, a two-task job of plain Python scripts)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from databricks_emulator.errors import ApiError
from databricks_emulator.runs import Workspace
from lakehouse_airflow.build.dag import build_dag
from lakehouse_airflow.config import PipelineConfigError, load_pipeline
from lakehouse_airflow.config.pipeline import with_absolute_sql_paths
from lakehouse_airflow.databricks.workflow import LakehouseWorkflowTaskOperator, latest_attempt
from lakehouse_airflow.operators.summary import SUMMARY_TASK_ID

ROOT = Path(__file__).resolve().parents[2]
CFG = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")
CONTEXT = {
    "run_id": "manual__2026-11-20T00:00:00+00:00",
    "ds": "2026-11-20",
    "data_interval_start": "2026-11-19T18:30:00+00:00",
    "data_interval_end": "2026-11-20T18:30:00+00:00",
    "params": {"tables": [], "mode": "incremental"},
}


def _dag(monkeypatch: pytest.MonkeyPatch, env: str, cfg=CFG):
    monkeypatch.setenv("LAKEHOUSE_ENV", env)
    return build_dag(cfg)


def _job(dag, **params: Any) -> dict[str, Any]:
    context = {**CONTEXT, "params": {**CONTEXT["params"], **params}}
    return dag.get_task("launch").create_workflow_json(context)


def test_workflow_keeps_the_task_ids_and_puts_every_spark_task_in_one_job(monkeypatch: pytest.MonkeyPatch) -> None:
    shared, workflow = _dag(monkeypatch, "emulated_shared"), _dag(monkeypatch, "emulated_workflow")
    assert set(workflow.task_ids) == set(shared.task_ids) - {"create_cluster", "delete_cluster"} | {"launch"}
    members = [t for t in workflow.tasks if t.task_id not in ("launch", SUMMARY_TASK_ID)]
    assert all(isinstance(t, LakehouseWorkflowTaskOperator) and t.retries == 0 for t in members)
    launch = workflow.get_task("launch")
    assert launch.downstream_task_ids == {t.task_id for t in members}  # each reads the job run from its XCom
    job = _job(workflow)
    assert job["name"] == "inventory_lakehouse.databricks_job" and job["max_concurrent_runs"] == CFG.max_active_runs
    by_key = {t["task_key"]: t for t in job["tasks"]}
    assert set(by_key) == {t.task_id.replace(".", "__") for t in members}
    for task in members:  # the DAG's dependencies, every task on the one job cluster
        body = by_key[task.task_id.replace(".", "__")]
        assert {d["task_key"] for d in body["depends_on"]} == {
            u.replace(".", "__") for u in task.upstream_task_ids if u != "launch"
        }
        assert body["job_cluster_key"] == job["job_clusters"][0]["job_cluster_key"]
    assert by_key["orders__extract"]["max_retries"] == 1  # Databricks retries on the live cluster (the env's)


def test_the_launch_renders_the_run_context_and_keeps_databricks_references(monkeypatch: pytest.MonkeyPatch) -> None:
    job = _job(_dag(monkeypatch, "emulated_workflow"), mode="full")
    by_key = {t["task_key"]: t["spark_python_task"]["parameters"] for t in job["tasks"]}
    audit = by_key["orders__audit"]

    def flag(params: list[str], name: str) -> str:
        return params[params.index(name) + 1]

    assert flag(audit, "--run-id") == CONTEXT["run_id"] and flag(audit, "--logical-date") == "2026-11-20"
    assert flag(audit, "--interval-end") == CONTEXT["data_interval_end"] and flag(audit, "--mode") == "full"
    assert flag(audit, "--try-number") == "{{task.execution_count}}"  # the Databricks task's own attempt
    assert flag(audit, "--upstream-states") == (
        "validate_connection={{tasks.orders__validate_connection.result_state}},"
        "extract={{tasks.orders__extract.result_state}},write_bronze={{tasks.orders__write_bronze.result_state}}"
    )
    assert by_key["orders__validate_connection"][0] == "validate"  # the source check as its Spark job


def test_selected_tables_leave_the_other_tasks_out_of_the_job(monkeypatch: pytest.MonkeyPatch) -> None:
    dag = _dag(monkeypatch, "emulated_workflow")
    job = _job(dag, tables=["orders"])
    keys = {t["task_key"] for t in job["tasks"]}
    assert {"orders__extract", "inventory_silver__orders"} <= keys
    assert not any(k.startswith(("products__", "inventory_silver__products")) for k in keys)
    for task in job["tasks"]:  # nothing depends on a task that is not in the job
        assert {d["task_key"] for d in task.get("depends_on", [])} <= keys
    served = {t.task_id.replace(".", "__") for t in dag.tasks if "orders" in getattr(t, "lakehouse_tables", ())}
    assert keys == served


def test_job_cluster_secret_references_survive_the_launch_templating(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    raw = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    raw["environments"]["emulated_workflow"]["databricks"]["cluster"]["spark_env_vars"] = {"K": "{{secrets/s/k}}"}
    (tmp_path / "environments.yaml").write_text(yaml.safe_dump(raw))
    monkeypatch.setenv("LAKEHOUSE_ENVIRONMENTS_FILE", str(tmp_path / "environments.yaml"))
    launch = _dag(monkeypatch, "emulated_workflow").get_task("launch")
    rendered = launch.render_template(launch.job_clusters, CONTEXT)
    assert rendered[0]["new_cluster"]["spark_env_vars"] == {"K": "{{secrets/s/k}}"}


def test_a_pipeline_with_cdc_tables_is_refused_in_workflow_mode(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    shipped = ROOT / "include" / "pipelines" / "inventory.yaml"
    raw = with_absolute_sql_paths(yaml.safe_load(shipped.read_text()), shipped)
    raw["tables"]["orders"]["cadence"] = "cdc"
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    cfg = load_pipeline(tmp_path / "p.yaml")
    with pytest.raises(PipelineConfigError, match="compute: workflow cannot wait in inventory_silver.cdc_caught_up"):
        _dag(monkeypatch, "emulated_workflow", cfg)


def test_the_latest_attempt_is_the_newest_task_run_started_or_not() -> None:
    runs = [
        {"task_key": "a", "run_id": 5, "start_time": 0, "state": {}},  # ended UPSTREAM_FAILED, never started
        {"task_key": "b", "run_id": 6, "start_time": 200, "state": {}},
        {"task_key": "a", "run_id": 9, "start_time": 0, "state": {}},  # a repair's, pending
    ]
    assert latest_attempt(runs, "a")["run_id"] == 9 and latest_attempt(runs, "b")["run_id"] == 6
    runs[2]["start_time"] = 300
    assert latest_attempt(runs, "a")["run_id"] == 9
    with pytest.raises(KeyError):
        latest_attempt(runs, "c")


# ---- the emulated service's repair ------------------------------------------------------------
SCRIPT = "import pathlib, sys\nsys.exit(1 if pathlib.Path(sys.argv[1]).exists() else 0)\n"


def _wait(ws: Workspace, run_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        run = ws.describe(run_id, include_history=True)
        if run["state"]["life_cycle_state"] == "TERMINATED":
            return run
        time.sleep(0.05)
    raise AssertionError("the run never finished")


def test_the_emulator_repairs_a_finished_job_run_in_place(tmp_path: Path) -> None:
    ws = Workspace(tmp_path, "http://emulator", "sc://unused", "t")
    (tmp_path / "Volumes" / "v").mkdir(parents=True)
    (tmp_path / "Volumes" / "v" / "task.py").write_text(SCRIPT)
    flag = tmp_path / "fail"
    flag.write_text("")

    def task(key: str, *deps: str) -> dict[str, Any]:
        return {"task_key": key, "job_cluster_key": "c", "depends_on": [{"task_key": d} for d in deps],
                "spark_python_task": {"python_file": "/Volumes/v/task.py", "parameters": [str(flag)]}}  # fmt: skip

    cluster = {"spark_version": "17.3.x-scala2.13", "node_type_id": "n", "num_workers": 1}
    job = ws.create_job({"name": "j", "job_clusters": [{"job_cluster_key": "c", "new_cluster": cluster}],
                         "tasks": [task("a"), task("b", "a"), task("z")]})  # fmt: skip
    run_id = ws.run_now(job, {})
    run = _wait(ws, run_id)
    results = {t["task_key"]: t["state"]["result_state"] for t in run["tasks"]}
    assert results == {"a": "FAILED", "b": "UPSTREAM_FAILED", "z": "FAILED"}
    assert [x["kind"] for x in ws.clusters.meter()["launches"]] == ["job_cluster"]  # shared by a and z

    flag.unlink()
    repair = ws.repair({"run_id": run_id, "rerun_tasks": ["a"], "rerun_dependent_tasks": True})
    run = _wait(ws, run_id)
    latest = {t["task_key"]: t for t in sorted(run["tasks"], key=lambda t: t["run_id"])}
    assert {k: t["state"]["result_state"] for k, t in latest.items()} == {"a": "SUCCESS", "b": "SUCCESS", "z": "FAILED"}
    assert latest["a"]["attempt_number"] == 1 and len(run["tasks"]) == 5  # a and b re-ran, z did not
    assert [h["type"] for h in run["repair_history"]] == ["ORIGINAL", "REPAIR"] and run["repair_history"][1][
        "id"
    ] == repair
    launches = ws.clusters.meter()["launches"]
    assert len(launches) == 2  # the run had ended with its job cluster: the repair launches its own
    while any(x["running"] for x in ws.clusters.meter()["launches"]):  # ended with the repair (within 0.1 s)
        time.sleep(0.05)

    with pytest.raises(ApiError, match="latest_repair_id"):  # a second repair must name the first
        ws.repair({"run_id": run_id, "rerun_tasks": ["z"]})
    with pytest.raises(ApiError, match="unknown"):
        ws.repair({"run_id": run_id, "rerun_tasks": ["nope"], "latest_repair_id": repair})
    ws.repair({"run_id": run_id, "rerun_all_failed_tasks": True, "latest_repair_id": repair})
    assert _wait(ws, run_id)["state"]["result_state"] == "SUCCESS"
