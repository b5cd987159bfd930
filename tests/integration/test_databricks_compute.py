"""Databricks compute modes against the emulator, beyond the whole-DAG parity run of
test_databricks_emulated (``shared_cluster``): the ``workflow`` mode's one job run and its repair,
and the shared cluster's teardown when a task fails or is killed.

The remote service is the only emulated part: Airflow, the provider, Spark, Delta and PostgreSQL
are real."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from lakehouse_airflow.build.dag import build_dag
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.databricks.cluster import DELETE_TASK_ID
from lakehouse_airflow.operators.summary import SUMMARY_TASK_ID
from support.dagrun import DATE, SHIPPED, airflow_db, dags_test, lake_state, pipeline_dir
from support.databricks_emu import SCOPE, Emulator
from support.env import ROOT, sh

DAG = "inventory_lakehouse_dbx"  # the stem of these runs' own dag ids: the shared local run's records stay untouched
WORKFLOW_DAG = f"{DAG}_wf"
FAULTY = "warehouses"  # its silver MERGE fails in the workflow run until the fault is lifted


def _dag_run_states(env: dict[str, str], dag_id: str) -> tuple[str, dict[str, str]]:
    """The one DAG run of ``dag_id``: its run id and task states."""
    with airflow_db(env) as conn:
        (run_id,) = [r[0] for r in conn.execute("SELECT run_id FROM dag_run WHERE dag_id = %s", (dag_id,))]
        rows = conn.execute("SELECT task_id, state FROM task_instance WHERE dag_id = %s AND run_id = %s",
                            (dag_id, run_id)).fetchall()  # fmt: skip
    return run_id, dict(rows)


def _clear_and_run(env: dict[str, str], dag_id: str, run_id: str, task_id: str) -> str:
    """The grid's "clear" of one task (Airflow's own clear), then its next try as the scheduler
    starts it: the scheduler numbers the try when it schedules the cleared task instance
    (``DagRun.schedule_tis``), which ``airflow tasks test`` does not do, so the test does."""
    sh(["airflow", "tasks", "clear", dag_id, "-t", f"^{task_id}$", "-s", DATE, "-e", DATE, "-y"], env=env)
    with airflow_db(env) as conn:
        conn.execute("UPDATE task_instance SET try_number = try_number + 1, state = 'scheduled' "
                     "WHERE dag_id = %s AND run_id = %s AND task_id = %s", (dag_id, run_id, task_id))  # fmt: skip
    return sh(["airflow", "tasks", "test", dag_id, task_id, run_id], env=env, check=False).stdout


@pytest.mark.long  # ~4.5 min: make test-all (tests/conftest.py LONG); the payload is unit-tested
def test_workflow_mode_is_one_job_run_and_a_cleared_task_is_repaired_in_it(
    deployed: Emulator, first, spark, tmp_path: Path
) -> None:
    """``compute: workflow``: the DAG run is one Databricks job run on one job cluster. A silver
    MERGE fails (an injected fault the job cluster reads from the secret scope), so its gold
    models end upstream_failed; the fault lifted, clearing the failed task from the grid and
    running it again repairs that task and its dependents in the same job run (one repair, no
    second job run) and the tables equal the local backend's."""
    lake = "/Volumes/emulated/inventory/lakehouse_wf"
    pipelines = pipeline_dir(tmp_path / "p", "inventory", lambda raw: raw.update(dag_id=WORKFLOW_DAG))
    raw = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    workflow = raw["environments"]["emulated_workflow"]["databricks"]
    workflow.update(lakehouse_root=lake, max_retries=0)
    workflow["cluster"]["spark_env_vars"] = {"LAKEHOUSE_INJECT_FAULT": "{{secrets/" + SCOPE + "/fault}}"}
    envs = tmp_path / "environments.yaml"
    envs.write_text(yaml.safe_dump(raw))
    run_env = {"LAKEHOUSE_ENV": "emulated_workflow", "LAKEHOUSE_ENVIRONMENTS_FILE": str(envs)}
    secrets = deployed.client().secrets
    secrets.put_secret(SCOPE, "fault", string_value=f"silver:{FAULTY}")
    before = {r["run_id"] for r in deployed.runs()}
    launched = len(deployed.launches(0))

    result = dags_test(deployed.env, pipelines, tmp_path / "unused", WORKFLOW_DAG, extra_env=run_env)
    assert result.returncode != 0, "the injected fault must fail the run"
    run_id, states = _dag_run_states(deployed.env, WORKFLOW_DAG)
    silver = f"inventory_silver.{FAULTY}"
    assert states[silver] == "failed" and states["launch"] == "success", states
    assert "upstream_failed" in {
        states[t] for t in build_dag(load_pipeline(SHIPPED)).get_task(silver).downstream_task_ids
    }
    (job_run,) = [r for r in deployed.runs() if r["run_id"] not in before]  # one job run for the DAG run
    assert job_run["run_type"] == "JOB_RUN" and job_run["state"]["result_state"] == "FAILED"
    spark_tasks = {t for t in states if t not in ("launch", SUMMARY_TASK_ID)}
    assert {t["task_key"] for t in job_run["tasks"]} == {k.replace(".", "__") for k in spark_tasks}
    (launch,) = deployed.launches(launched)  # one job cluster for the whole run, ended with it
    assert launch["kind"] == "job_cluster" and launch["run_id"] == job_run["run_id"] and not launch["running"]

    # the grid's "clear" of the failed task, then its next try (what the scheduler would start)
    secrets.put_secret(SCOPE, "fault", string_value="")
    task_env = {**deployed.env, "LAKEHOUSE_PIPELINES_DIR": str(pipelines), **run_env}
    out = _clear_and_run(task_env, WORKFLOW_DAG, run_id, silver)
    assert f"repairing inventory_silver__{FAULTY}" in out, out[-3000:]
    assert _dag_run_states(deployed.env, WORKFLOW_DAG)[1][silver] == "success"

    deadline = time.monotonic() + 600  # the repair re-runs the task's dependents after it
    while True:
        repaired = deployed.api("GET", "/api/2.2/jobs/runs/get",
                                params={"run_id": job_run["run_id"], "include_history": "true"}).json()  # fmt: skip
        if repaired["state"]["life_cycle_state"] == "TERMINATED" or time.monotonic() > deadline:
            break
        time.sleep(1)
    assert [h["type"] for h in repaired["repair_history"]] == ["ORIGINAL", "REPAIR"]  # one repair
    assert repaired["state"]["result_state"] == "SUCCESS"  # the task and its dependents re-ran
    assert [r["run_id"] for r in deployed.runs() if r["run_id"] not in before] == [job_run["run_id"]]
    relaunch = deployed.launches(launched)[1:]  # the run had ended: the repair starts its job cluster once
    assert len(relaunch) == 1 and not relaunch[0]["running"]

    # a dependent cleared after the repair follows its repaired task: no second repair
    gold = next(t for t in sorted(build_dag(load_pipeline(SHIPPED)).get_task(silver).downstream_task_ids)
                if t.startswith("inventory_gold."))  # fmt: skip
    out = _clear_and_run(task_env, WORKFLOW_DAG, run_id, gold)
    assert "repairing" not in out and _dag_run_states(deployed.env, WORKFLOW_DAG)[1][gold] == "success", out[-3000:]
    history = deployed.api("GET", "/api/2.2/jobs/runs/get",
                           params={"run_id": job_run["run_id"], "include_history": "true"}).json()["repair_history"]  # fmt: skip
    assert len(history) == 2

    # parity: every table equals the local backend's for the same source data
    assert lake_state(spark, deployed.root / lake.lstrip("/")) == lake_state(spark, first.lake)


def test_shared_cluster_is_deleted_when_a_task_fails(deployed: Emulator, tmp_path: Path) -> None:
    """A run whose only selected table fails (its secret scope holds no keys): the teardown still
    deletes the run's one cluster. Its own dag id: the retry-less DAG it serializes must not be the
    one the `tasks test` cases of test_databricks_emulated find in the metadata DB."""
    dag_id = f"{DAG}_failing"
    pipelines = pipeline_dir(tmp_path / "p", "inventory", lambda raw: raw.update(dag_id=dag_id))
    envs = _shared_environment(tmp_path, secret_scope="inventory-empty", max_retries=0)
    launched = len(deployed.launches())
    result = dags_test(
        deployed.env, pipelines, tmp_path / "unused", dag_id, date="2026-11-11",
        extra_env={"LAKEHOUSE_ENV": "emulated_shared", "LAKEHOUSE_ENVIRONMENTS_FILE": str(envs)},
        args=("--conf", json.dumps({"tables": ["warehouses"]})),
    )  # fmt: skip
    assert "SecretNotFoundError" in result.stdout + result.stderr
    (launch,) = deployed.launches(launched)
    assert launch["kind"] == "created" and not launch["running"], launch
    _, states = _dag_run_states(deployed.env, dag_id)
    assert states[DELETE_TASK_ID] == "success", states


def test_shared_cluster_is_deleted_when_an_airflow_task_is_killed(deployed: Emulator, tmp_path: Path) -> None:
    """SIGTERM reaches the process of a task whose Databricks run is running -- what Airflow sends a
    task it kills (marked failed from the grid, a timeout, a worker shut down). The task's on_kill
    cancels its run on the shared cluster, the task fails, and the teardown still deletes the run's
    one cluster: none is left running."""
    dag_id = f"{DAG}_killed"
    pipelines = pipeline_dir(tmp_path / "p", "inventory", lambda raw: raw.update(dag_id=dag_id))
    envs = _shared_environment(tmp_path, max_retries=0)
    launched = len(deployed.launches())
    before = {r["run_id"] for r in deployed.runs()}
    env = {**deployed.env, "LAKEHOUSE_PIPELINES_DIR": str(pipelines), "LAKEHOUSE_ROOT": str(tmp_path / "unused"),
           "LAKEHOUSE_ENV": "emulated_shared", "LAKEHOUSE_ENVIRONMENTS_FILE": str(envs)}  # fmt: skip
    log = tmp_path / "dags-test.log"
    with log.open("w") as out:  # a file, not a pipe: nobody drains a pipe while the test polls
        proc = subprocess.Popen(
            ["airflow", "dags", "test", "--conf", json.dumps({"tables": ["warehouses"]}), dag_id, "2026-11-12"],
            cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            killed = _first_running_run(deployed, before, dag_id, timeout=600)
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=900)
        finally:
            proc.kill()
    text = log.read_text()
    assert "was requested to be cancelled" in text, text[-3000:]
    state = deployed.api("GET", "/api/2.2/jobs/runs/get", params={"run_id": killed["run_id"]}).json()["state"]
    assert state["result_state"] == "CANCELED", state
    task_id = ".".join(killed["run_name"].removeprefix(f"{dag_id}.").split(".")[:2])  # <group>.<task>.<run id>
    _, states = _dag_run_states(deployed.env, dag_id)
    assert states[task_id] == "failed" and states[DELETE_TASK_ID] == "success", states
    (launch,) = deployed.launches(launched)  # one cluster for the run, and it is gone
    assert launch["kind"] == "created" and not launch["running"], launch
    listed = deployed.api("GET", "/api/2.1/clusters/list").json()["clusters"]
    assert launch["cluster_id"] not in {c["cluster_id"] for c in listed}


def _shared_environment(tmp_path: Path, **settings: object) -> Path:
    """An environments file whose ``emulated_shared`` Databricks settings are overridden."""
    raw = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    raw["environments"]["emulated_shared"]["databricks"].update(settings)
    envs = tmp_path / "environments.yaml"
    envs.write_text(yaml.safe_dump(raw))
    return envs


def _first_running_run(emu: Emulator, before: set[int], dag_id: str, timeout: float) -> dict:
    """The first new run of ``dag_id``'s tasks once it is RUNNING on the emulator."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        fresh = [r for r in emu.runs() if r["run_id"] not in before and r["run_name"].startswith(f"{dag_id}.")]
        running = [r for r in fresh if r["state"]["life_cycle_state"] == "RUNNING"]
        if running:
            return running[0]
        time.sleep(0.1)
    raise AssertionError(f"no run of {dag_id} reached RUNNING in {timeout:.0f} s")
