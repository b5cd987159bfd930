"""The whole DAG in the Databricks compute modes `make test` does not run end to end (marker
``long``): ``per_task`` (a ``new_cluster`` per Spark task) and ``serverless`` (serverless jobs
compute: an ``environments`` entry, no cluster). Each against the emulator, every bronze, silver and
gold table equal to the local backend's run of the same date; the meter shows a cluster per task,
and none for serverless. (``shared_cluster``: test_databricks_emulated; ``workflow``:
test_databricks_compute.)"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse_airflow.build.dag import build_dag
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.operators.spark_submit import LakehouseSparkSubmitOperator
from support.dagrun import SHIPPED, dags_test, lake_state, pipeline_dir
from support.databricks_emu import Emulator
from support.env import ROOT

DAG = "inventory_lakehouse_dbx"  # the stem of these runs' own dag ids


@pytest.mark.parametrize("mode", ["per_task", "serverless"])
def test_the_whole_dag_in_this_mode_equals_the_local_backend(
    deployed: Emulator, first, spark, tmp_path: Path, mode: str
) -> None:
    dag_id = f"{DAG}_{mode}"
    lake = f"/Volumes/emulated/inventory/lakehouse_{mode}"
    pipelines = pipeline_dir(tmp_path / "p", "inventory", lambda raw: raw.update(dag_id=dag_id))
    raw = yaml.safe_load((ROOT / "include" / "environments.yaml").read_text())
    settings = raw["environments"]["emulated"]["databricks"]  # compute: per_task
    settings["lakehouse_root"] = lake
    if mode == "serverless":
        settings.pop("cluster")
        settings.update(serverless=True, compute="serverless")
    envs = tmp_path / "environments.yaml"
    envs.write_text(yaml.safe_dump(raw))
    before = {r["run_id"] for r in deployed.runs()}
    launched = len(deployed.launches())

    result = dags_test(deployed.env, pipelines, tmp_path / "unused-local-lake", dag_id,
                       extra_env={"LAKEHOUSE_ENV": "emulated", "LAKEHOUSE_ENVIRONMENTS_FILE": str(envs)})  # fmt: skip
    assert result.returncode == 0, (result.stdout + result.stderr)[-4000:]

    runs = [r for r in deployed.runs() if r["run_id"] not in before]
    spark_tasks = [t for t in build_dag(load_pipeline(SHIPPED)).tasks if isinstance(t, LakehouseSparkSubmitOperator)]
    assert len(runs) == len(spark_tasks) and {r["state"]["result_state"] for r in runs} == {"SUCCESS"}
    tasks = [t for r in runs for t in r["tasks"]]
    launches = deployed.launches(launched)
    if mode == "per_task":  # a cluster per task, each ended with its run
        assert all("new_cluster" in t for t in tasks) and len(launches) == len(runs)
    else:  # serverless: the wheel and the PyPI requirements as environment dependencies, no cluster
        assert all("environment_key" in t and "new_cluster" not in t for t in tasks) and launches == []
    assert not any(x["running"] for x in launches)
    assert not (tmp_path / "unused-local-lake").exists()  # nothing ran on the local backend
    assert lake_state(spark, deployed.root / lake.lstrip("/")) == lake_state(spark, first.lake)
