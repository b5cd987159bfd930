"""The exported native Databricks job (jobs/create + run-now), scheduled by the emulated Jobs
service itself, no Airflow: parity with the local backend, the run clock, a failed check's audit,
and job definitions checked like the service checks them."""

from __future__ import annotations

import datetime as dt
import time
from dataclasses import replace

from lakehouse_airflow.config import load_pipeline
from lakehouse_contract.specs import parse_spec
from support.dagrun import DATE, LOAD_STAMPS, PER_RUN, SHIPPED, rows
from support.databricks_emu import Emulator
from support.env import IT_SCHEMA

NATIVE_LAKE = "/Volumes/emulated/inventory/native"  # its own lakehouse: compared with the local run's


def _native_job(keep: tuple[str, ...]) -> dict:
    """The exported job of the `emulated` environment, cut down to the tasks named by ``keep`` (key
    prefixes), without retries, reading the integration schema (as the shared local run does) and
    writing to its own lakehouse."""
    from lakehouse_airflow.config.environments import load_environments
    from lakehouse_airflow.databricks.job_export import create_request

    env = load_environments()["emulated"].databricks
    env = env.model_copy(update={"lakehouse_root": NATIVE_LAKE, "max_retries": 0})
    pipeline = load_pipeline(SHIPPED)
    pipeline = pipeline.model_copy(update={"source": pipeline.source.model_copy(update={"schema_name": IT_SCHEMA})})
    body = create_request(pipeline, "emulated", env)
    tasks = [t for t in body["tasks"] if t["task_key"].startswith(keep)]
    keys = {t["task_key"] for t in tasks}
    for task in tasks:
        deps = [d for d in task.get("depends_on", []) if d["task_key"] in keys]
        if not deps:
            task.pop("depends_on", None), task.pop("run_if", None)
        else:
            task["depends_on"] = deps
    body["name"] = f"native-{'-'.join(keep)}"
    return {**body, "tasks": tasks}


def _run_job(emu: Emulator, body: dict, parameters: dict[str, str]) -> dict:
    created = emu.api("POST", "/api/2.2/jobs/create", json=body)
    assert created.status_code == 200, created.text
    started = emu.api(
        "POST", "/api/2.2/jobs/run-now", json={"job_id": created.json()["job_id"], "job_parameters": parameters}
    )
    run_id = started.json()["run_id"]
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        run = emu.api("GET", "/api/2.2/jobs/runs/get", params={"run_id": run_id}).json()
        if run["state"]["life_cycle_state"] == "TERMINATED":
            return run
        time.sleep(0.5)
    raise AssertionError(f"job run {run_id} did not finish")


def test_exported_job_runs_natively_and_matches_the_local_backend(deployed: Emulator, first, spark) -> None:
    """Scheduled on Databricks itself (no Airflow): validate -> extract -> write_bronze -> audit ->
    silver for one table, with the run clock, states and ids from dynamic value references."""
    run = _run_job(deployed, _native_job(("warehouses__", "inventory_silver__warehouses")), {"logical_date": DATE})
    assert run["run_type"] == "JOB_RUN" and run["state"]["result_state"] == "SUCCESS", run["state"]
    assert {t["task_key"]: t["state"]["result_state"] for t in run["tasks"]} == {
        "warehouses__validate_connection": "SUCCESS",
        "warehouses__extract": "SUCCESS",
        "warehouses__write_bronze": "SUCCESS",
        "warehouses__audit": "SUCCESS",
        "inventory_silver__warehouses": "SUCCESS",
    }
    lake = deployed.root / NATIVE_LAKE.lstrip("/")
    for table in ("inventory_bronze/bz_warehouses", "inventory_silver/warehouses"):
        assert rows(spark, lake / table, PER_RUN | LOAD_STAMPS) == rows(
            spark, first.lake / table, PER_RUN | LOAD_STAMPS
        )
    audit_log = spark.read.format("delta").load(str(lake / "inventory_bronze" / "bz_audit_log"))
    assert {(r["layer"], r["status"]) for r in audit_log.collect()} == {("bronze", "SUCCESS"), ("silver", "SUCCESS")}
    (audit,) = audit_log.where("layer = 'bronze'").collect()
    assert (audit["status"], audit["job_run_id"], audit["try_number"]) == ("SUCCESS", str(run["run_id"]), 1)
    assert str(audit["logical_date"]) == DATE and audit["row_count"] == audit["source_row_count"] > 0
    driver_logs = "".join(p.read_text() for p in (deployed.root / "runs").glob("*/driver.log"))
    assert not any(secret in driver_logs for secret in deployed.secrets)


def test_exported_job_derives_the_date_and_audits_a_failed_check(deployed: Emulator, spark) -> None:
    """No logical_date given: every task derives the same one from the trigger time and the daily
    schedule. The source check fails: extract and write_bronze are skipped as upstream_failed, the
    audit (run_if ALL_DONE) still runs and records the check's message."""
    from spark_jobs.runtime.schedule import DailySchedule

    body = _native_job(("suppliers__",))
    for task in body["tasks"]:
        params = task["spark_python_task"]["parameters"]
        if params[0] == "validate":  # as if the table were dropped
            spec = params.index("--spec") + 1
            params[spec] = replace(parse_spec(params[spec]), source=f"{IT_SCHEMA}.suppliers_gone").to_json()
    run = _run_job(deployed, body, {})
    states = {t["task_key"]: t["state"]["result_state"] for t in run["tasks"]}
    assert states == {
        "suppliers__validate_connection": "FAILED",
        "suppliers__extract": "UPSTREAM_FAILED",
        "suppliers__write_bronze": "UPSTREAM_FAILED",
        "suppliers__audit": "FAILED",  # it ran, recorded FAILED, and fails so alerts fire
    }
    audit_log = spark.read.format("delta").load(
        str(deployed.root / NATIVE_LAKE.lstrip("/") / "inventory_bronze" / "bz_audit_log")
    )
    (audit,) = audit_log.where(f"job_run_id = '{run['run_id']}'").collect()
    assert audit["status"] == "FAILED" and audit["source_table"] == f"{IT_SCHEMA}.suppliers"
    assert audit["error_details"].startswith(
        "validate_connection failed: SourceCheckError: check 'table exists' failed"
    )
    clock = DailySchedule.parse("0 2 * * *", "Asia/Kolkata")
    started = dt.datetime.fromtimestamp(run["start_time"] / 1000, dt.UTC)
    assert audit["logical_date"] == clock.logical_date_at(started)


def test_job_definitions_are_checked_like_the_service(deployed: Emulator) -> None:
    body = _native_job(("products__",))
    extract = next(t for t in body["tasks"] if t["task_key"] == "products__extract")
    extract["spark_python_task"]["parameters"].append("{{job.parameters.not_declared}}")
    bad = deployed.api("POST", "/api/2.2/jobs/create", json=body)
    assert bad.status_code == 400 and "not_declared" in bad.json()["message"]
    cyclic = _native_job(("products__",))
    cyclic["tasks"][0]["depends_on"] = [{"task_key": cyclic["tasks"][-1]["task_key"]}]
    assert (
        deployed.api("POST", "/api/2.2/jobs/create", json=cyclic)
        .json()["message"]
        .startswith("the task graph has a cycle")
    )
    job_id = deployed.api("POST", "/api/2.2/jobs/create", json=_native_job(("products__",))).json()["job_id"]
    unknown = deployed.api("POST", "/api/2.2/jobs/run-now", json={"job_id": job_id, "job_parameters": {"nope": "1"}})
    assert unknown.status_code == 400 and "nope" in unknown.json()["message"]
