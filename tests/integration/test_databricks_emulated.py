"""Databricks backend end to end, against the local emulation of the Jobs/Files/Secrets REST API
(databricks_emulator): deploy with the databricks-sdk, secrets through a secret scope, the whole DAG
through the provider's DatabricksSubmitRunOperator, parity with the local backend, failure paths.

The remote service is the only emulated part: Airflow, the provider's hook, the databricks-sdk, the
wheel, Spark, Delta and PostgreSQL are all real."""

from __future__ import annotations

import base64
import io
import json
import signal
import subprocess
import time
import uuid
import zipfile
from pathlib import Path
from types import SimpleNamespace

import httpx
import psycopg
import pytest
import yaml

from lakehouse_airflow.build.dag import build_dag
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.operators.spark_submit import LakehouseSparkSubmitOperator
from support import s3 as objects
from support.dagrun import DATE, LOAD_STAMPS, PER_RUN, SHIPPED, dags_test, lake_state, pipeline_dir
from support.databricks_emu import ARTIFACTS, CONN_ID, SCOPE, Emulator
from support.env import ROOT, sh

DAG = "inventory_lakehouse_dbx"  # own dag id: the shared local run's records stay untouched
TASKS_TEST_DATE = "2026-11-10"  # no run of that date exists: `tasks test` makes (and drops) its own


def test_deploy_uploads_the_wheel_the_entry_script_and_the_gold_sql(deployed: Emulator) -> None:
    client = deployed.client()
    listed = {e.name for e in client.files.list_directory_contents(ARTIFACTS)}
    assert listed == {"inventory_lakehouse-0.1.0-py3-none-any.whl", "spark_jobs", "include"}
    # only the entry script: the job package itself must come from the wheel (a cluster library)
    assert [e.name for e in client.files.list_directory_contents(f"{ARTIFACTS}/spark_jobs")] == ["run.py"]
    sql = {e.name for e in client.files.list_directory_contents(f"{ARTIFACTS}/include/sql/gold")}
    assert sql == {p.name for p in (ROOT / "include" / "sql" / "gold").glob("*.sql")}
    wheel = deployed.root / ARTIFACTS.lstrip("/") / "inventory_lakehouse-0.1.0-py3-none-any.whl"
    names = zipfile.ZipFile(wheel).namelist()
    assert "spark_jobs/jobs/extract.py" in names and "spark_jobs/storage/secrets.py" in names
    assert "lakehouse_contract/specs.py" in names  # the contract ships with the jobs
    assert not any(n.startswith(("dags/", "plugins/", "seed/", "tests/", "lakehouse_airflow/")) for n in names)


def _rendered_fields(env: dict[str, str], dag_id: str) -> str:
    airflow_dsn = env["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"].replace("+psycopg2", "")
    with psycopg.connect(airflow_dsn) as conn:
        found = conn.execute(
            "SELECT rendered_fields::text FROM rendered_task_instance_fields WHERE dag_id = %s", (dag_id,)
        ).fetchall()
    return "\n".join(r[0] for r in found)


@pytest.fixture(scope="module")
def pipelines(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The pipeline under its own DAG id: these runs never touch the shared local run's records."""
    return pipeline_dir(tmp_path_factory.mktemp("dbx"), "inventory", lambda raw: raw.update(dag_id=DAG))


def test_whole_dag_on_databricks_equals_the_local_backend(
    deployed: Emulator, pipelines: Path, first, spark, tmp_path: Path
) -> None:
    """The whole DAG with ``compute: shared_cluster`` (what dev..prod use): one cluster for the run,
    created by the setup task, every Spark task on it, deleted by the teardown; tables equal."""
    before = {r["run_id"] for r in deployed.runs()}
    launched = len(deployed.launches(0))
    result = dags_test(deployed.env, pipelines, tmp_path / "unused-local-lake", DAG,
                       extra_env={"LAKEHOUSE_ENV": "emulated_shared"})  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]

    runs = [r for r in deployed.runs() if r["run_id"] not in before]
    spark_tasks = [t for t in build_dag(load_pipeline(SHIPPED)).tasks if isinstance(t, LakehouseSparkSubmitOperator)]
    assert len(runs) == len(spark_tasks) and {r["state"]["result_state"] for r in runs} == {"SUCCESS"}
    assert all(r["run_name"].startswith(f"{DAG}.") for r in runs)
    assert not (tmp_path / "unused-local-lake").exists()  # nothing ran on the local backend

    # compute: exactly one cluster launched for the run, every task ran on it, none left running
    (launch,) = deployed.launches(launched)
    assert launch["kind"] == "created" and launch["name"].startswith(f"{DAG}.") and not launch["running"]
    assert {t.get("existing_cluster_id") for r in runs for t in r["tasks"]} == {launch["cluster_id"]}
    assert not any("new_cluster" in t for r in runs for t in r["tasks"])
    assert launch["seconds"] >= 240  # the simulated start is billed
    listed = deployed.api("GET", "/api/2.1/clusters/list").json()["clusters"]
    assert launch["cluster_id"] not in {c["cluster_id"] for c in listed}  # permanently deleted

    # parity: every bronze, silver and gold table equals the local backend's for the same source data
    assert lake_state(spark, deployed.lake()) == lake_state(spark, first.lake)

    # secrets by reference only: not in the payloads, the rendered templates, the task or driver logs
    payloads = json.dumps(runs)
    assert f"dbsecrets:{SCOPE}" in payloads
    rendered = _rendered_fields(deployed.env, DAG)
    assert f"dbsecrets:{SCOPE}" in rendered
    driver_logs = "".join(p.read_text() for p in (deployed.root / "runs").glob("*/driver.log"))
    for secret in deployed.secrets:
        for where, text in (("payloads", payloads), ("rendered", rendered), ("task logs", result.stdout + result.stderr),
                            ("driver logs", driver_logs)):  # fmt: skip
            assert secret not in text, f"a secret value appears in the {where}"


def _tasks_test(
    emu: Emulator, pipelines: Path, task_id: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[str]:
    return subprocess.Popen(
        ["airflow", "tasks", "test", DAG, task_id, TASKS_TEST_DATE],
        cwd=ROOT,
        env={**emu.env, "LAKEHOUSE_PIPELINES_DIR": str(pipelines), **(extra_env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def test_failing_job_fails_the_task_with_the_run_url_and_the_error(
    deployed: Emulator, pipelines: Path, tmp_path: Path
) -> None:
    raw = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    raw["environments"]["emulated"]["databricks"]["secret_scope"] = "inventory-empty"  # exists, holds no keys
    envs = tmp_path / "environments.yaml"
    envs.write_text(yaml.safe_dump(raw))
    before = {r["run_id"] for r in deployed.runs()}
    proc = _tasks_test(deployed, pipelines, "warehouses.extract", {"LAKEHOUSE_ENVIRONMENTS_FILE": str(envs)})
    out, _ = proc.communicate(timeout=300)
    # `tasks test` exits 0 either way; the TI state tells (the environment's max_retries: 1 -> a retry is due)
    assert "new_state=up_for_retry" in out, out[-3000:]
    (run,) = [r for r in deployed.runs() if r["run_id"] not in before]
    assert run["state"]["result_state"] == "FAILED"
    assert run["run_page_url"] in out
    error = "SecretNotFoundError: secret reference dbsecrets:inventory-empty key jdbc-url"
    assert error in out, out[-3000:]
    output = deployed.api("GET", "/api/2.2/jobs/runs/get-output", params={"run_id": run["tasks"][0]["run_id"]}).json()
    assert output["error"].startswith(error) and "Traceback" in output["error_trace"]


def test_killing_the_airflow_task_cancels_the_run(deployed: Emulator, pipelines: Path) -> None:
    before = {r["run_id"] for r in deployed.runs()}
    proc = _tasks_test(deployed, pipelines, "suppliers.extract")
    deadline = time.monotonic() + 120
    run = None
    while run is None and time.monotonic() < deadline:
        fresh = [r for r in deployed.runs() if r["run_id"] not in before]
        run = fresh[0] if fresh and fresh[0]["state"]["life_cycle_state"] == "RUNNING" else None
        time.sleep(0.1)
    assert run is not None, "the run never reached RUNNING"
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=120)
    assert "was requested to be cancelled" in out, out[-3000:]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        state_now = deployed.api("GET", "/api/2.2/jobs/runs/get", params={"run_id": run["run_id"]}).json()["state"]
        if state_now["life_cycle_state"] == "TERMINATED":
            break
        time.sleep(0.2)
    assert state_now == {
        "life_cycle_state": "TERMINATED",
        "result_state": "CANCELED",
        "state_message": "Run cancelled.",
    }


def test_a_retry_reattaches_to_the_active_run_and_a_finished_run_is_not_reused(
    deployed: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lakehouse_airflow.databricks.operator import LakehouseDatabricksSubmitRunOperator

    script = f"{ARTIFACTS}/tests/sleep.py"
    deployed.client().files.upload(
        script, io.BytesIO(b"import sys, time\ntime.sleep(float(sys.argv[1]))\n"), overwrite=True
    )
    monkeypatch.setenv(f"AIRFLOW_CONN_{CONN_ID.upper()}", deployed.env[f"AIRFLOW_CONN_{CONN_ID.upper()}"])
    payload = {
        "run_name": "token-probe",
        "tasks": [
            {
                "task_key": "sleep",
                "spark_python_task": {"python_file": script, "parameters": ["4"]},
                "new_cluster": {"spark_version": "17.3.x-scala2.13", "node_type_id": "x", "num_workers": 1},
            }
        ],
    }
    context = {"ti": SimpleNamespace(dag_id="d", task_id="t", run_id=f"manual__{time.time()}")}

    def try_once() -> int:  # one Airflow try: a fresh operator instance, as in a new worker process
        op = LakehouseDatabricksSubmitRunOperator(task_id="t", json=payload, databricks_conn_id=CONN_ID)
        return op.submit_job(context)  # type: ignore[arg-type]

    def wait_terminal(run_id: int) -> None:
        while (
            deployed.api("GET", "/api/2.2/jobs/runs/get", params={"run_id": run_id}).json()["state"]["life_cycle_state"]
            != "TERMINATED"
        ):
            time.sleep(0.2)

    first_try = try_once()
    assert try_once() == first_try  # the worker was lost; the retry re-attaches, no second run
    assert [r["run_id"] for r in deployed.runs() if r["run_name"] == "token-probe"] == [first_try]
    wait_terminal(first_try)
    cleared = try_once()  # the run has ended (a failure being retried, a clear): a fresh run
    assert cleared != first_try
    assert try_once() == cleared
    wait_terminal(cleared)


def test_the_emulator_answers_like_the_service(deployed: Emulator) -> None:
    assert httpx.get(f"{deployed.url}/api/2.2/jobs/runs/list").status_code == 401
    missing = deployed.api("GET", "/api/2.2/jobs/runs/get", params={"run_id": 999999})
    assert missing.status_code == 404 and missing.json()["error_code"] == "RESOURCE_DOES_NOT_EXIST"
    bad = deployed.api("POST", "/api/2.2/jobs/runs/submit", json={"run_name": "x", "tasks": [{"task_key": "a"}]})
    assert bad.status_code == 400 and bad.json()["error_code"] == "INVALID_PARAMETER_VALUE"


def test_the_clusters_api_answers_like_the_service(deployed: Emulator) -> None:
    """The databricks-sdk's own create-and-wait, list and permanent delete; a run on a cluster that
    is gone is refused."""
    from datetime import timedelta

    from databricks.sdk.service.compute import State

    client = deployed.client()
    launched = len(deployed.launches(0))
    cluster = client.clusters.create(
        spark_version="17.3.x-scala2.13", node_type_id="Standard_DS3_v2", num_workers=1, cluster_name="probe"
    ).result(timeout=timedelta(seconds=60))
    assert cluster.state == State.RUNNING and cluster.cluster_name == "probe"
    assert cluster.cluster_id in {c.cluster_id for c in client.clusters.list()}
    client.clusters.permanent_delete(cluster.cluster_id)
    assert cluster.cluster_id not in {c.cluster_id for c in client.clusters.list()}
    (launch,) = deployed.launches(launched)
    assert (launch["cluster_id"], launch["running"]) == (cluster.cluster_id, False)
    task = {
        "task_key": "a",
        "existing_cluster_id": cluster.cluster_id,
        "spark_python_task": {"python_file": "/Volumes/x/y/z/run.py"},
    }
    refused = deployed.api("POST", "/api/2.2/jobs/runs/submit", json={"run_name": "x", "tasks": [task]})
    assert refused.status_code == 400 and cluster.cluster_id in refused.json()["message"]


def test_the_lakehouse_on_s3_through_databricks(deployed: Emulator, first, spark, tmp_path: Path) -> None:
    """``emulated_s3``: the lakehouse in the project's S3 server, the cluster holding the key pair as
    environment variables from secret references (``deploy --secrets`` put the pair in the scope);
    warehouses' bronze and silver (the ``tables`` param) equal the local run, step results are in the
    bucket, and no key value is in a payload, a rendered template, a task or driver log."""
    sh("scripts/locals3.sh up", env=deployed.env, timeout=1200)
    keys = objects.credentials(deployed.env)
    raw = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    settings = raw["environments"]["emulated_s3"]["databricks"]
    root = f"s3a://lakehouse/dbx-{uuid.uuid4().hex[:8]}"
    settings["lakehouse_root"] = root
    settings["cluster"]["spark_env_vars"]["AWS_ENDPOINT_URL_S3"] = keys["endpoint"]  # the suite's port
    envs = tmp_path / "environments.yaml"
    envs.write_text(yaml.safe_dump(raw))
    env = {**deployed.env, "LAKEHOUSE_ENVIRONMENTS_FILE": str(envs)}
    out = sh(
        ["python", "-m", "lakehouse_airflow.databricks.deploy", "--env", "emulated_s3", "--secrets"], env=env
    ).stdout
    assert f"secret {SCOPE}/s3-access-key set" in out and keys["secret"] not in out
    stored = base64.b64decode(deployed.client().secrets.get_secret(SCOPE, "s3-secret-key").value or "").decode()
    assert stored == keys["secret"]

    dag_id = f"{DAG}_s3"

    def config(raw: dict) -> None:  # executive_summary reads every silver table's DQ results: not here
        raw.update(dag_id=dag_id)
        raw["gold"]["models"].pop("executive_summary")

    pipelines = pipeline_dir(tmp_path / "p", "inventory", config)
    before = {r["run_id"] for r in deployed.runs()}
    result = dags_test(env, pipelines, tmp_path / "unused-local-lake", dag_id, date=DATE,
                       extra_env={"LAKEHOUSE_ENV": "emulated_s3"}, args=("--conf", '{"tables": ["warehouses"]}'))  # fmt: skip
    assert result.returncode == 0, result.stdout[-4000:]
    runs = [r for r in deployed.runs() if r["run_id"] not in before]
    assert {".".join(r["run_name"].removeprefix(f"{dag_id}.").split(".")[:2]) for r in runs} == {
        "warehouses.extract", "warehouses.write_bronze", "warehouses.audit", "inventory_silver.warehouses",
    } and {r["state"]["result_state"] for r in runs} == {"SUCCESS"}  # fmt: skip

    for table in ("inventory_bronze/bz_warehouses", "inventory_silver/warehouses"):
        ours = spark.read.format("delta").load(f"{root}/{table}")
        kept = [c for c in ours.columns if c not in PER_RUN | LOAD_STAMPS]
        theirs = spark.read.format("delta").load(str(first.lake / table)).select(*kept)
        assert sorted(map(tuple, ours.select(*kept).collect()), key=repr) == sorted(
            map(tuple, theirs.collect()), key=repr
        ), table
    s3 = objects.client(deployed.env)
    results = objects.keys(s3, f"{root}/_control/step_results")
    # each job's step result in the bucket (audit records into the audit log only, as locally)
    assert sorted(k.rsplit("/", 1)[-1] for k in results) == ["extract.json", "silver.json", "write_bronze.json"]
    assert not (tmp_path / "unused-local-lake").exists()

    # the job processes got the key pair only from the cluster's secret references (the emulator hands
    # a driver none of its own environment's credentials): the step results above prove they had it;
    # the values stay in the scope
    payloads = json.dumps(runs) + json.dumps(deployed.api("GET", "/api/2.0/emulator/meter").json())
    driver_logs = "".join(p.read_text() for p in (deployed.root / "runs").glob("*/driver.log"))
    for where, text in (("payloads", payloads), ("rendered", _rendered_fields(env, dag_id)),
                        ("task logs", result.stdout + result.stderr), ("driver logs", driver_logs)):  # fmt: skip
        assert keys["secret"] not in text and keys["key"] not in text, f"an S3 key appears in the {where}"
