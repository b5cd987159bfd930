"""Databricks backend, payload level: environments, the backend switch and the exact runs/submit JSON
(as the provider's own tests assert on ``op.json``)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest

from lakehouse_airflow.build.dag import build_dag
from lakehouse_airflow.config import PipelineConfigError, load_pipeline
from lakehouse_airflow.config.environments import load_environments
from lakehouse_airflow.databricks.operator import LakehouseDatabricksSubmitRunOperator
from lakehouse_airflow.databricks.payload import idempotency_token, new_cluster
from lakehouse_airflow.operators.spark_submit import LakehouseSparkSubmitOperator
from lakehouse_contract.naming import Location, Schemas
from lakehouse_contract.specs import ExtractSpec, GoldSpec, MaintainSpec, SilverSpec
from support.specs import flags, spec_of

ROOT = Path(__file__).resolve().parents[2]
CFG = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")
ARTIFACTS = "/Volumes/workspace/inventory/artifacts"
LAKE = "/Volumes/workspace/inventory/lakehouse"


def _dag(monkeypatch: pytest.MonkeyPatch, env: str, file: Path | None = None):
    monkeypatch.setenv("LAKEHOUSE_ENV", env)
    if file:
        monkeypatch.setenv("LAKEHOUSE_ENVIRONMENTS_FILE", str(file))
    return build_dag(CFG)


def test_shipped_environments_match_the_existing_deployment() -> None:
    envs = load_environments()
    assert set(envs) == {"local", "dev", "qa", "uat", "prod", "emulated", "emulated_shared", "emulated_s3",
                         "emulated_workflow"}  # fmt: skip
    assert envs["local"].backend == "local"
    db = {name: envs[name].databricks for name in ("dev", "qa", "uat", "prod")}
    # one cluster per DAG run; prod: one job run per DAG run (the cheapest measured, docs/databricks.md)
    assert {n: d.compute for n, d in db.items()} == {
        "dev": "shared_cluster", "qa": "shared_cluster", "uat": "shared_cluster", "prod": "workflow"
    }  # fmt: skip
    assert envs["emulated"].databricks.compute == "per_task"
    assert envs["emulated_workflow"].databricks.compute == "workflow"
    assert [d.max_retries for d in db.values()] == [1, 2, 2, 2]
    assert [d.timeout_seconds for d in db.values()] == [3600, 7200, 7200, 14400]
    for name in ("dev", "qa"):
        assert db[name].cluster.node_type_id == "Standard_DS3_v2" and db[name].cluster.num_workers == 2
    prod = db["prod"].cluster
    assert prod.node_type_id == "Standard_DS5_v2" and (prod.autoscale.min_workers, prod.autoscale.max_workers) == (
        5,
        10,
    )
    assert all(d.spark_version.endswith("-scala2.13") for d in db.values())
    # an s3a:// root without an instance profile: the key pair reaches the cluster from the secret scope
    s3 = envs["emulated_s3"].databricks
    assert s3.lakehouse_root.startswith("s3a://") and s3.compute == "shared_cluster"
    cluster = new_cluster(s3)
    assert cluster["spark_env_vars"]["AWS_ACCESS_KEY_ID"] == f"{{{{secrets/{s3.secret_scope}/s3-access-key}}}}"
    assert cluster["spark_env_vars"]["AWS_SECRET_ACCESS_KEY"] == f"{{{{secrets/{s3.secret_scope}/s3-secret-key}}}}"
    assert "spark_env_vars" not in new_cluster(db["prod"])


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"cluster": {"node_type_id": "x", "num_workers": 2}, "serverless": True}, "serverless: true and cluster"),
        ({"cluster": None}, "cluster is required unless serverless"),
        ({"cluster": {"node_type_id": "x"}}, "exactly one of num_workers or autoscale"),
        ({"colour": "blue"}, "environments.dev.databricks.colour: unknown key"),
        ({"artifacts_path": "relative/path"}, "environments.dev.databricks.artifacts_path"),
        ({"artifacts_path": "/Workspace/Shared/lakehouse"}, "environments.dev.databricks.artifacts_path"),
        ({"lakehouse_root": "s3://bucket/lake"}, "environments.dev.databricks.lakehouse_root"),
        (
            {"compute": "serverless", "cluster": None, "lakehouse_root": "s3a://bucket/lake"},
            "serverless compute reaches object storage through Unity Catalog only",
        ),
        (
            {"cluster": {"node_type_id": "x", "num_workers": 1, "spark_env_vars": {"AWS_SECRET_ACCESS_KEY": "abc"}}},
            "spark_env_vars.AWS_SECRET_ACCESS_KEY holds a secret: give a secret reference",
        ),
    ],
)
def test_invalid_environment_names_file_and_field(tmp_path: Path, patch: dict, message: str) -> None:
    import yaml

    raw = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    dev = raw["environments"]["dev"]["databricks"]
    dev.update(patch)
    dev = {k: v for k, v in dev.items() if v is not None}
    raw["environments"]["dev"]["databricks"] = dev
    bad = tmp_path / "environments.yaml"
    bad.write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineConfigError) as err:
        load_environments(bad)
    assert str(bad) in str(err.value) and message in str(err.value)


def test_backend_switch_changes_only_the_operator(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Per-task compute: the same tasks; shared_cluster: the same tasks plus the run's cluster as
    setup (upstream of every Spark task) and teardown (downstream of all of them)."""
    local, shared = _dag(monkeypatch, "local"), _dag(monkeypatch, "dev")
    per_task = _dag(monkeypatch, "dev", _env_file(tmp_path, dev={"compute": "per_task"}))
    assert [t.task_id for t in local.tasks] == [t.task_id for t in per_task.tasks]
    assert sorted(t.task_id for t in shared.tasks) == sorted([*local.task_ids, "create_cluster", "delete_cluster"])
    create, delete = shared.get_task("create_cluster"), shared.get_task("delete_cluster")
    assert create.is_setup and delete.is_teardown and create.task_id in delete.upstream_task_ids
    for a in local.tasks:
        b, c = per_task.get_task(a.task_id), shared.get_task(a.task_id)
        assert a.upstream_task_ids == b.upstream_task_ids and a.trigger_rule == b.trigger_rule == c.trigger_rule
        if isinstance(a, LakehouseSparkSubmitOperator):
            assert isinstance(b, LakehouseDatabricksSubmitRunOperator) and isinstance(c, type(b))
            assert b.databricks_conn_id == c.databricks_conn_id == "databricks_dev"
            setup = {"create_cluster"} if a.trigger_rule == "all_success" else set()  # others follow one
            assert c.upstream_task_ids == a.upstream_task_ids | setup and c.task_id in delete.upstream_task_ids
            assert b.cluster_task_id is None and c.cluster_task_id == "create_cluster"
            assert "new_cluster" in b.json["tasks"][0] and "new_cluster" not in c.json["tasks"][0]
            assert c.json["tasks"][0]["libraries"] == b.json["tasks"][0]["libraries"]
        else:
            assert type(a) is type(b) is type(c) and a.upstream_task_ids == c.upstream_task_ids


def _env_file(tmp_path: Path, **databricks: dict) -> Path:
    import yaml

    raw = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    for env, patch in databricks.items():
        raw["environments"][env]["databricks"].update(patch)
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


def test_table_task_payload_on_a_classic_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    op = _dag(monkeypatch, "dev", _env_file(tmp_path, dev={"compute": "per_task"})).get_task("orders.extract")
    params = op.json["tasks"][0]["spark_python_task"]["parameters"]
    assert op.json == {
        "run_name": "{{ dag.dag_id }}.{{ task.task_id }}.{{ run_id }}",
        "timeout_seconds": 3600,
        "tasks": [
            {
                "task_key": "orders__extract",
                "spark_python_task": {"python_file": f"{ARTIFACTS}/spark_jobs/run.py", "parameters": params},
                "timeout_seconds": 3600,
                "new_cluster": {
                    "spark_version": "17.3.x-scala2.13",
                    "node_type_id": "Standard_DS3_v2",
                    "num_workers": 2,
                    "spark_conf": {"spark.sql.session.timeZone": "UTC"},
                    "custom_tags": {"project": "inventory-lakehouse", "owner": "data-platform"},
                    "data_security_mode": "SINGLE_USER",
                },
                "libraries": [
                    {"whl": f"{ARTIFACTS}/inventory_lakehouse-0.1.0-py3-none-any.whl"},
                    {"pypi": {"package": "psycopg[binary]==3.3.9"}},  # the snapshot and CDC reads need it
                ],
            }
        ],
        "access_control_list": [{"group_name": "data-engineers", "permission_level": "CAN_MANAGE_RUN"}],
    }
    # the local job's spec and run flags, with locations and secret references translated
    monkeypatch.delenv("LAKEHOUSE_ENVIRONMENTS_FILE")
    local_args = _dag(monkeypatch, "local").get_task("orders.extract").application_args
    local, remote = spec_of(local_args), spec_of(params)
    assert params[0] == "extract" and len(params) == len(local_args)
    assert flags(params)["--interval-start"] == "{{ data_interval_start }}"
    assert [p for p in params if not p.startswith("{")] == [a for a in local_args if not a.startswith("{")]
    # ... the environment's root and Unity Catalog (tables are workspace.<schema>.<table>), schemas
    # by default the pipeline's; every other field as the local spec
    assert remote.location == Location(LAKE, local.location.schemas, "workspace")
    assert isinstance(remote, ExtractSpec) and remote.jdbc_secret == "dbsecrets:inventory-dev"
    assert replace(remote, location=local.location, jdbc_secret=local.jdbc_secret) == local  # type: ignore[call-arg]
    assert op.retries == 1  # dev's max retries


def test_cluster_secret_references_reach_databricks_verbatim(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A per-task cluster's spark_env_vars hold Databricks' own {{secrets/...}} references inside
    the operator's templated payload: Airflow's rendering hands them over as written."""
    ref = "{{secrets/inventory-dev/s3-secret-key}}"
    cluster = {
        "node_type_id": "x",
        "num_workers": 1,
        "spark_env_vars": {"AWS_SECRET_ACCESS_KEY": ref, "AWS_REGION": "eu-west-1"},
    }
    dag = _dag(monkeypatch, "dev", _env_file(tmp_path, dev={"compute": "per_task", "cluster": cluster}))
    op = dag.get_task("orders.extract")
    rendered = op.render_template(op.json["tasks"][0]["new_cluster"], {}, jinja_env=dag.get_template_env())
    assert rendered["spark_env_vars"] == {"AWS_SECRET_ACCESS_KEY": ref, "AWS_REGION": "eu-west-1"}


def test_gold_task_payload_serverless(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import yaml

    raw = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    raw["environments"]["uat"]["databricks"].pop("cluster")
    raw["environments"]["uat"]["databricks"]["serverless"] = True
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(raw))
    op = _dag(monkeypatch, "uat", tmp_path / "env.yaml").get_task("inventory_gold.daily_sales")
    task = op.json["tasks"][0]
    base = "/Volumes/workspace_uat/inventory/artifacts"
    assert op.json["environments"] == [
        {
            "environment_key": "lakehouse",
            "spec": {
                "client": "3",
                "dependencies": [f"{base}/inventory_lakehouse-0.1.0-py3-none-any.whl", "psycopg[binary]==3.3.9"],
            },
        }
    ]
    assert set(task) == {"task_key", "spark_python_task", "timeout_seconds", "environment_key"}
    assert task["environment_key"] == "lakehouse" and task["task_key"] == "inventory_gold__daily_sales"
    params = task["spark_python_task"]["parameters"]
    spec = spec_of(params)
    assert params[0] == "gold" and isinstance(spec, GoldSpec)
    assert spec.sql_file == f"{base}/include/sql/gold/daily_sales.sql"
    assert spec.location.root == "/Volumes/workspace_uat/inventory/lakehouse"


def test_payloads_hold_secret_references_never_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AIRFLOW_CONN_INVENTORY_SOURCE", "postgresql://lakehouse:s3cr3t-pw@db:5432/DE")
    monkeypatch.setenv("AIRFLOW_CONN_PII_HASH_KEY", '{"conn_type": "generic", "password": "k3y-value-123"}')
    local = _dag(monkeypatch, "local")
    refs = sum(
        sum(bool(getattr(spec_of(t.application_args), name, None)) for name in ("jdbc_secret", "pii_key_secret"))
        for t in local.tasks
        if isinstance(t, LakehouseSparkSubmitOperator)
    )
    dag = _dag(monkeypatch, "uat")
    payloads = json.dumps([t.json for t in dag.tasks if isinstance(t, LakehouseDatabricksSubmitRunOperator)])
    assert "s3cr3t-pw" not in payloads and "k3y-value-123" not in payloads and "LAKEHOUSE_JDBC" not in payloads
    assert refs > 10 and payloads.count("dbsecrets:inventory-uat") == refs  # each reference translated
    silver = spec_of(dag.get_task("inventory_silver.customers").json["tasks"][0]["spark_python_task"]["parameters"])
    assert isinstance(silver, SilverSpec) and silver.pii_key_secret == "dbsecrets:inventory-uat"


def test_idempotency_token_is_per_task_and_run_not_per_try() -> None:
    token = idempotency_token("inventory_lakehouse", "orders.extract", "manual__2026-11-20")
    assert token == idempotency_token("inventory_lakehouse", "orders.extract", "manual__2026-11-20")
    assert len(token) == 64
    assert token != idempotency_token("inventory_lakehouse", "orders.extract", "manual__2026-11-21")
    assert token != idempotency_token("inventory_lakehouse", "orders.write_bronze", "manual__2026-11-20")


def test_environment_schemas_rename_the_layers(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import yaml

    raw = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    raw["environments"]["qa"]["databricks"]["schemas"] = {"bronze": "raw", "gold": "marts"}
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(raw))
    qa = _dag(monkeypatch, "qa", tmp_path / "env.yaml")
    params = qa.get_task("orders.extract").json["tasks"][0]
    where = spec_of(params["spark_python_task"]["parameters"]).location
    assert (where.catalog, where.schemas) == ("workspace_qa", Schemas("raw", "inventory_silver", "marts"))
    # the maintenance DAG's table names follow the environment's schemas too
    from lakehouse_airflow.build.maintenance import build_maintenance_dag

    maint = build_maintenance_dag(CFG).get_task("maintenance.orders").json["tasks"][0]
    maintained = spec_of(maint["spark_python_task"]["parameters"])
    assert isinstance(maintained, MaintainSpec)
    assert maintained.tables == ("raw.bz_orders", "inventory_silver.orders", "inventory_silver.orders_quarantine")
    raw["environments"]["qa"]["databricks"]["catalog"] = "bad-name"
    (tmp_path / "env.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineConfigError, match="environments.qa.databricks.catalog"):
        load_environments(tmp_path / "env.yaml")


def test_run_cluster_name_is_stable_per_run_and_fits_the_api() -> None:
    from lakehouse_airflow.databricks.cluster import cluster_name

    a = cluster_name("inventory_lakehouse", "scheduled__2026-11-20T20:30:00+00:00")
    assert a == cluster_name("inventory_lakehouse", "scheduled__2026-11-20T20:30:00+00:00")  # a retry finds it
    assert a != cluster_name("inventory_lakehouse", "scheduled__2026-11-21T20:30:00+00:00")
    long = cluster_name("d" * 200, "manual__" + "x" * 200)
    assert len(long) <= 100 and long != cluster_name("d" * 200, "manual__" + "x" * 199 + "y")
    assert a.startswith("inventory_lakehouse.scheduled__2026-11-20T20-30-00-00-00.")


@pytest.mark.parametrize("env", ["dev", "emulated", "emulated_workflow"])
def test_the_dag_folder_bags_in_each_compute_mode(monkeypatch: pytest.MonkeyPatch, env: str) -> None:
    """Airflow's own checks at bagging time (a setup task's direct downstream must be all_success)."""
    from airflow.dag_processing.dagbag import DagBag

    monkeypatch.setenv("LAKEHOUSE_ENV", env)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {} and "inventory_lakehouse" in bag.dags
    # shared_cluster: every DAG whose tasks run on the run's cluster (the pipeline DAGs and their
    # maintenance and DR DAGs) creates it first and deletes it last
    on_cluster = 0
    for dag in bag.dags.values():
        for task in dag.tasks:
            if getattr(task, "cluster_task_id", None):
                on_cluster += 1
                assert "create_cluster" in task.get_flat_relative_ids(upstream=True), (dag.dag_id, task.task_id)
                assert "delete_cluster" in task.get_flat_relative_ids(upstream=False), (dag.dag_id, task.task_id)
    assert (on_cluster > 0) == (env == "dev")
    if env == "emulated_workflow":  # every DAG's Spark tasks are one Databricks job per run
        for dag in bag.dags.values():
            spark = [t for t in dag.tasks if t.task_type.startswith("Lakehouse") and "Workflow" in t.task_type]
            assert spark and dag.has_task("launch"), dag.dag_id


def test_the_jobs_pypi_requirements_are_pinned_as_in_requirements_txt() -> None:
    """The cluster libraries carry the versions the project is tested with."""
    from packaging.requirements import Requirement

    from lakehouse_contract.runtime import PYPI_REQUIREMENTS

    pinned = dict(line.split("==", 1) for line in (ROOT / "requirements.txt").read_text().splitlines() if "==" in line)
    for requirement in map(Requirement, PYPI_REQUIREMENTS):
        (spec,) = requirement.specifier
        assert spec.operator == "==" and pinned[requirement.name] == spec.version, requirement


def test_the_emulator_fails_a_pypi_library_its_runtime_does_not_hold() -> None:
    """The emulator installs nothing from PyPI: a requirement the runtime does not satisfy fails
    the task like a failed library install, so a payload cannot rely on the test machine's venv."""
    from databricks_emulator.runtime import check_preinstalled
    from lakehouse_contract.runtime import PYPI_REQUIREMENTS

    for requirement in PYPI_REQUIREMENTS:
        check_preinstalled(requirement)
    with pytest.raises(LookupError, match=r"psycopg==0\.0\.1: not installable .* has psycopg 3\."):
        check_preinstalled("psycopg==0.0.1")
    with pytest.raises(LookupError, match="lacks no-such-package"):
        check_preinstalled("no-such-package==1.0")


def test_the_emulated_driver_reaches_the_workspace_url_bound_after_start(tmp_path: Path) -> None:
    """The emulator learns its URL only once the server has bound its port (set after the
    workspace exists); the jobs' ``DATABRICKS_HOST`` (dbutils secrets) must be that URL."""
    from databricks_emulator.runs import Workspace

    ws = Workspace(tmp_path, "", "sc://127.0.0.1:1", "t")
    ws.base_url = "http://127.0.0.1:4711"
    assert ws.runtime.driver_env()["DATABRICKS_HOST"] == "http://127.0.0.1:4711"
