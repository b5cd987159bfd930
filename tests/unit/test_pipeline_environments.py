"""Per-pipeline settings per environment (``environments.yaml`` ``pipelines:``), the media pipeline's
environments (schedules, SLAs, notifications, health) in the DAG and the native job export, and the
media pipeline's shape (bronze ``raw_<name>``, five silver and five gold tasks in parallel)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse_airflow.build.dag import build_dag
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.config.base import PipelineConfigError
from lakehouse_airflow.config.environments import load_environments
from lakehouse_airflow.databricks.job_export import create_request, databricks_environments, export
from lakehouse_airflow.describe.pipeline import pipeline_specs
from lakehouse_contract import naming
from lakehouse_contract.specs import SilverSpec
from support.specs import spec_of

ROOT = Path(__file__).resolve().parents[2]
ENV_FILE = ROOT / "include" / "environments.yaml"
MEDIA = load_pipeline(ROOT / "include" / "pipelines" / "media.yaml")
INVENTORY = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")


def test_media_settings_per_environment() -> None:
    envs = load_environments(pipeline=MEDIA.dag_id)
    schedules = {n: envs[n].schedule_for(MEDIA.schedule) for n in ("dev", "qa", "uat", "prod")}
    assert schedules == {"dev": None, "qa": "0 2 * * *", "uat": "0 1 * * *", "prod": "0 1 * * *"}
    assert {n: envs[n].run_deadline_minutes for n in ("qa", "uat", "prod")} == {"qa": 30, "uat": 20, "prod": 20}
    db = {n: envs[n].databricks for n in ("dev", "qa", "uat", "prod")}
    assert {n: (d.max_retries, d.timeout_seconds) for n, d in db.items() if d} == {
        "dev": (1, 3600), "qa": (2, 7200), "uat": (2, 7200), "prod": (2, 14400)
    }  # fmt: skip
    assert (db["dev"].cluster.node_type_id, db["dev"].cluster.num_workers) == ("Standard_DS3_v2", 2)
    assert db["prod"].cluster.autoscale.model_dump() == {"min_workers": 5, "max_workers": 10}
    assert all(d.health.run_duration_seconds == 7200 and d.notifications.on_failure for d in db.values())
    assert db["prod"].notifications.on_start and db["prod"].notifications.on_success
    assert not db["qa"].notifications.on_start
    assert db["prod"].lakehouse_root == "/Volumes/prod/media/lakehouse" and db["prod"].secret_scope == "media-prod"
    # the inventory pipeline keeps the environments' own settings
    inventory = load_environments(pipeline=INVENTORY.dag_id)
    assert inventory["prod"].databricks.lakehouse_root == "/Volumes/prod/inventory/lakehouse"
    assert inventory["qa"].schedule_for(INVENTORY.schedule) == INVENTORY.schedule
    assert not inventory["prod"].databricks.notifications.on_start


@pytest.mark.parametrize(("env", "schedule"), [("local", "0 1 * * *"), ("dev", None), ("qa", "0 2 * * *")])
def test_dag_schedule_follows_the_environment(monkeypatch: pytest.MonkeyPatch, env: str, schedule: str | None) -> None:
    monkeypatch.setenv("LAKEHOUSE_ENV", env)
    dag = build_dag(MEDIA)
    assert getattr(dag.timetable, "expression", None) == schedule  # None: NullTimetable, on demand
    assert build_dag(INVENTORY).timetable.expression == INVENTORY.schedule  # unchanged


def test_job_export_carries_media_schedules_notifications_and_health(tmp_path: Path) -> None:
    envs = databricks_environments(pipeline=MEDIA.dag_id)
    body = {n: create_request(MEDIA, n, e.databricks, e.schedule_for(MEDIA.schedule)) for n, e in envs.items()}
    assert "schedule" not in body["dev"]  # on demand
    assert body["qa"]["schedule"]["quartz_cron_expression"] == "0 0 2 * * ?"
    assert body["prod"]["schedule"]["quartz_cron_expression"] == "0 0 1 * * ?"
    assert body["prod"]["email_notifications"] == {
        "on_start": ["media-data-ops@example.com"],
        "on_failure": ["media-data-alerts@example.com", "media-oncall@example.com"],
        "on_success": ["media-data-ops@example.com"],
        "no_alert_for_skipped_runs": True,
    }
    rule = {"metric": "RUN_DURATION_SECONDS", "op": "GREATER_THAN", "value": 7200}
    assert all(body[n]["health"] == {"rules": [rule]} for n in ("dev", "qa", "uat", "prod"))
    assert "health" not in body["emulated"]  # not set there
    assert body["prod"]["job_clusters"][0]["new_cluster"]["autoscale"] == {"min_workers": 5, "max_workers": 10}
    silver = next(t for t in body["prod"]["tasks"] if t["task_key"] == "media_silver__delivery")
    spec = spec_of(silver["spark_python_task"]["parameters"])
    assert spec.location.root == "/Volumes/prod/media/lakehouse" and spec.location.schemas.bronze_prefix == "raw_"
    written = export(tmp_path, "dev")
    bundle = yaml.safe_load((tmp_path / MEDIA.dag_id / "databricks.yml").read_text())
    assert "schedule" not in bundle["targets"]["dev"]["resources"]["jobs"][MEDIA.dag_id]
    assert tmp_path / "jobs" / f"{MEDIA.dag_id}.dev.json" in written


def _env_file(tmp_path: Path, pipelines: dict) -> Path:
    raw = yaml.safe_load(ENV_FILE.read_text())
    raw["pipelines"] = pipelines
    path = tmp_path / "environments.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("pipelines", "message"),
    [
        ({"media_lakehouse": {"staging": {"schedule": None}}}, "pipelines.media_lakehouse.staging: no such environment"),
        ({"media_lakehouse": {"qa": {"retries": 3}}}, "pipelines.media_lakehouse.qa.retries: not a per-pipeline"),
        ({"media_lakehouse": {"qa": {"databricks": {"wheel": "x.whl"}}}}, "qa.wheel: not a per-pipeline setting"),
        ({"media_lakehouse": {"local": {"databricks": {"max_retries": 1}}}}, "environment 'local' is not databricks"),
        ({"media_lakehouse": {"qa": {"databricks": {"max_retries": -1}}}}, "pipelines.media_lakehouse.qa.databricks.max_retries"),
        ({"media_lakehouse": {"qa": {"run_deadline_minutes": 0}}}, "pipelines.media_lakehouse.qa.run_deadline_minutes"),
    ],
)  # fmt: skip
def test_invalid_pipeline_settings_name_file_and_field(tmp_path: Path, pipelines: dict, message: str) -> None:
    path = _env_file(tmp_path, pipelines)
    with pytest.raises(PipelineConfigError) as err:
        load_environments(path)  # checked whichever pipeline asks
    assert str(path) in str(err.value) and message in str(err.value)


def test_media_pipeline_shape() -> None:
    """Bronze raw_<name>; the five silver tables depend only on their own bronze chain (parallel),
    the five gold models only on silver (parallel)."""
    specs = pipeline_specs(MEDIA)
    silver = [s for s in specs if s.layer == "silver"]
    gold = [s for s in specs if s.layer == "gold"]
    assert sorted(s.spec.table for s in silver) == ["assets", "delivery", "devices", "geo", "metrics"]
    assert sorted(s.spec.table for s in gold) == sorted(MEDIA.gold.models)
    for s in silver:
        assert s.upstream == (f"{s.spec.table}.audit",), s.full_id  # its own bronze chain only
        assert isinstance(s.spec, SilverSpec)
    for g in gold:  # exactly the silver tables it reads
        assert set(g.upstream) == {f"media_silver.{i}" for i in MEDIA.gold.models[g.spec.table].inputs}, g.full_id
    assert str(naming.bronze(silver[0].spec.location.schemas, "delivery")) == "media_bronze.raw_delivery"


def test_a_changed_environments_file_is_read_again(tmp_path: Path) -> None:
    """Loads are cached per file version: an edit (a DAG file re-parse after a deploy) is seen."""
    path = _env_file(tmp_path, {"media_lakehouse": {"qa": {"run_deadline_minutes": 45}}})
    assert load_environments(path, MEDIA.dag_id)["qa"].run_deadline_minutes == 45
    assert load_environments(path, MEDIA.dag_id) == load_environments(path, MEDIA.dag_id)
    raw = yaml.safe_load(path.read_text())
    raw["pipelines"]["media_lakehouse"]["qa"]["run_deadline_minutes"] = 5
    path.write_text(yaml.safe_dump(raw))
    assert load_environments(path, MEDIA.dag_id)["qa"].run_deadline_minutes == 5
