"""The pipeline exported as a native Databricks job (Jobs API 2.1 JSON and Asset Bundle), and the
run clock its tasks derive when Databricks, not Airflow, starts them."""

from __future__ import annotations

import datetime as dt
import json
import re
from pathlib import Path

import pendulum
import pytest
import yaml
from databricks.sdk.service.jobs import JobAccessControlRequest, JobSettings

from lakehouse_airflow.build.dag import build_dag
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.config.environments import load_environments
from lakehouse_airflow.databricks.job_export import ExportError, bundle, create_request, export, main, quartz_cron
from lakehouse_airflow.operators.summary import SUMMARY_TASK_ID
from lakehouse_contract.specs import ValidateSpec
from spark_jobs.runtime.errors import JobError
from spark_jobs.runtime.schedule import DailySchedule
from support.specs import flags, spec_of

ROOT = Path(__file__).resolve().parents[2]
CFG = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")
ENVIRONMENTS = {n: e for n, e in load_environments().items() if e.databricks is not None}
ENVS = {n: e.databricks for n, e in ENVIRONMENTS.items() if e.databricks is not None}
REFERENCE = re.compile(r"\{\{([^}]*)\}\}")
KNOWN_REFS = {"job.run_id", "task.execution_count", "job.trigger.time.timestamp_ms"}


def _key(task_id: str) -> str:
    return task_id.replace(".", "__")


@pytest.fixture(scope="module")
def dag():
    """The DAG without its run summary: that task reads Airflow's states and the monitor, so it
    stays in Airflow (natively, the job run page is the summary)."""
    full = build_dag(CFG)
    spark_tasks = [t for t in full.task_ids if t != SUMMARY_TASK_ID]
    return full.partial_subset(task_ids=spark_tasks, include_upstream=False, include_downstream=False)


@pytest.mark.parametrize("env", sorted(ENVS))
def test_job_json_is_a_valid_jobs_api_request(env: str) -> None:
    """Every key and value survives the databricks-sdk's own JobSettings model (nothing unknown)."""
    body = create_request(CFG, env, ENVS[env])
    acl = body.pop("access_control_list")
    assert JobSettings.from_dict(body).as_dict() == body
    assert [JobAccessControlRequest.from_dict(a).as_dict() for a in acl] == acl
    json.dumps(body)  # plain JSON


def test_job_has_the_dags_task_graph_and_trigger_rules(dag) -> None:
    tasks = {t["task_key"]: t for t in create_request(CFG, "prod", ENVS["prod"])["tasks"]}
    assert set(tasks) == {_key(t) for t in dag.task_ids}
    edges = {(d["task_key"], key) for key, t in tasks.items() for d in t.get("depends_on", [])}
    assert edges == {(_key(up), _key(t.task_id)) for t in dag.tasks for up in t.upstream_task_ids}
    run_if = {"all_success": "ALL_SUCCESS", "all_done": "ALL_DONE", "none_failed": "NONE_FAILED"}
    for t in dag.tasks:
        if t.upstream_task_ids:
            assert tasks[_key(t.task_id)]["run_if"] == run_if[getattr(t.trigger_rule, "value", t.trigger_rule)], (
                t.task_id
            )
    assert tasks["orders__audit"]["max_retries"] == 0  # as in the DAG: the audit row is per attempt
    assert tasks["orders__extract"]["max_retries"] == ENVS["prod"].max_retries


def test_job_schedule_notifications_limits_from_config() -> None:
    prod = ENVS["prod"]
    body = create_request(CFG, "prod", prod)
    assert body["schedule"] == {
        "quartz_cron_expression": "0 0 2 * * ?",
        "timezone_id": "Asia/Kolkata",
        "pause_status": "UNPAUSED",
    }
    assert CFG.schedule == "0 2 * * *" and CFG.timezone == "Asia/Kolkata"
    assert body["max_concurrent_runs"] == 1
    assert body["timeout_seconds"] == prod.timeout_seconds == 14400
    assert body["email_notifications"]["on_failure"] == list(prod.notifications.on_failure)
    assert body["email_notifications"]["on_success"] == ["inventory-reports@example.com"]
    assert body["access_control_list"] == [{"group_name": "data-engineers", "permission_level": "CAN_MANAGE_RUN"}]
    assert body["tags"]["environment"] == "prod"
    (cluster,) = body["job_clusters"]
    assert cluster["new_cluster"]["autoscale"] == {"min_workers": 5, "max_workers": 10}
    assert all(t["job_cluster_key"] == cluster["job_cluster_key"] for t in body["tasks"])


def test_task_parameters_use_only_databricks_references(dag) -> None:
    body = create_request(CFG, "dev", ENVS["dev"])
    declared = {p["name"] for p in body["parameters"]}
    assert declared == {"logical_date", "mode"}
    upstream = {_key(t.task_id): {_key(u) for u in t.upstream_task_ids} for t in dag.tasks}
    for task in body["tasks"]:
        params = task["spark_python_task"]["parameters"]
        for arg in params:
            assert "{{ " not in arg and "ti." not in arg, (task["task_key"], arg)  # no Airflow Jinja left
            for ref in REFERENCE.findall(arg):
                if ref.startswith("job.parameters."):
                    assert ref.removeprefix("job.parameters.") in declared
                elif ref.startswith("tasks."):
                    other, field = ref.split(".")[1:]
                    # a state is read only from a task this one (transitively) waits for
                    assert field == "result_state" and other in _ancestors(task["task_key"], upstream)
                else:
                    assert ref in KNOWN_REFS, ref
        given, spec = flags(params), spec_of(params)
        assert spec.dag_id == CFG.dag_id and given["--run-id"] == "{{job.run_id}}"
        assert spec.task_id.replace(".", "__") == task["task_key"]
        assert given["--logical-date"] == "{{job.parameters.logical_date}}"
        assert given["--schedule"] == "0 2 * * *"
        assert given["--trigger-time"] == "{{job.trigger.time.timestamp_ms}}"
        assert spec.location.root == ENVS["dev"].lakehouse_root
    by_key = {t["task_key"]: t["spark_python_task"]["parameters"] for t in body["tasks"]}
    assert by_key["orders__validate_connection"][0] == "validate"  # the Spark version of the check
    check = spec_of(by_key["orders__validate_connection"])
    assert isinstance(check, ValidateSpec) and check.jdbc_secret == "dbsecrets:inventory-dev"
    audit = by_key["orders__audit"]
    assert audit[audit.index("--upstream-states") + 1] == (
        "validate_connection={{tasks.orders__validate_connection.result_state}},"
        "extract={{tasks.orders__extract.result_state}},write_bronze={{tasks.orders__write_bronze.result_state}}"
    )
    extract = flags(by_key["orders__extract"])
    assert extract["--mode"] == "{{job.parameters.mode}}"
    assert "--interval-start" not in extract and "--upstream-error" not in flags(audit)  # derived / step result


def _ancestors(key: str, upstream: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(upstream[key])
    while todo:
        k = todo.pop()
        if k not in seen:
            seen.add(k)
            todo += upstream[k]
    return seen


def test_secrets_stay_references() -> None:
    text = json.dumps(create_request(CFG, "prod", ENVS["prod"]))
    assert "dbsecrets:inventory-prod" in text
    assert "env:LAKEHOUSE" not in text and "password" not in text.lower()


def test_serverless_export_uses_environments_not_clusters() -> None:
    env = ENVS["dev"].model_copy(update={"serverless": True, "cluster": None})
    body = create_request(CFG, "dev", env)
    assert "job_clusters" not in body
    (environment,) = body["environments"]
    assert environment["spec"]["dependencies"] == [f"{env.artifacts_path}/{env.wheel}", "psycopg[binary]==3.3.9"]
    for task in body["tasks"]:
        assert task["environment_key"] == environment["environment_key"]
        assert "libraries" not in task and "job_cluster_key" not in task
    body.pop("access_control_list")
    assert JobSettings.from_dict(body).as_dict() == body


def test_bundle_targets_carry_the_same_job() -> None:
    data = yaml.safe_load(yaml.safe_dump(bundle(CFG, ENVIRONMENTS)))
    assert data["bundle"] == {"name": CFG.dag_id}
    assert set(data["targets"]) == set(ENVS)
    for name, env in ENVS.items():
        job = data["targets"][name]["resources"]["jobs"][CFG.dag_id]
        assert job.pop("permissions") == [{"level": "CAN_MANAGE_RUN", "group_name": "data-engineers"}]
        expected = create_request(CFG, name, env)
        expected.pop("access_control_list")
        assert job == expected


def test_cli_writes_json_and_bundle(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--env", "qa", "--out", str(tmp_path)]) == 0
    job = json.loads((tmp_path / "jobs" / f"{CFG.dag_id}.qa.json").read_text())
    assert job["timeout_seconds"] == 7200 and len(job["tasks"]) == len(build_dag(CFG).task_ids) - 1
    assert set(yaml.safe_load((tmp_path / CFG.dag_id / "databricks.yml").read_text())["targets"]) == {"qa"}
    assert main(["--env", "nope", "--out", str(tmp_path)]) == 2
    assert "no databricks environment" in capsys.readouterr().err


def test_non_daily_schedule_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ExportError, match="needs a daily schedule"):
        quartz_cron("0 */6 * * *")
    assert quartz_cron("30 2 * * *") == "0 30 2 * * ?"
    hourly = CFG.model_copy(update={"schedule": "0 * * * *"})
    with pytest.raises(ExportError, match="daily schedule"):
        create_request(hourly, "dev", ENVS["dev"])
    assert export(tmp_path, "dev")  # the shipped pipelines export


# -- the native run clock (spark_jobs/runtime/schedule.py) agrees with Airflow's timetable --------------


@pytest.mark.parametrize(
    ("cron", "zone"),
    [("0 2 * * *", "Asia/Kolkata"), ("0 0 * * *", "UTC"), ("30 6 * * *", "America/New_York")],
)
def test_native_clock_matches_airflow_scheduled_runs(cron: str, zone: str) -> None:
    """For triggers at and between ticks (across a DST change for New York), the logical date and
    interval a native run derives are those Airflow's scheduler gives the run ending at that tick."""
    from airflow.sdk import CronDataIntervalTimetable
    from airflow.serialization.encoders import coerce_to_core_timetable

    timetable = coerce_to_core_timetable(CronDataIntervalTimetable(cron, timezone=pendulum.timezone(zone)))
    clock = DailySchedule.parse(cron, zone)
    start = pendulum.datetime(2026, 3, 5, tz="UTC")
    for hours in range(0, 24 * 6, 5):
        trigger = start.add(hours=hours)
        airflow = timetable.infer_manual_data_interval(run_after=trigger)  # latest complete interval
        ds = clock.logical_date_at(trigger)
        assert ds == airflow.start.in_tz("UTC").date(), trigger  # Airflow's ds of that scheduled run
        begin, end = clock.interval_for(ds)
        assert (begin, end) == (airflow.start, airflow.end), trigger


def test_native_clock_rejects_what_it_cannot_schedule() -> None:
    with pytest.raises(JobError, match="daily schedules"):
        DailySchedule.parse("0 */6 * * *", "UTC")
    with pytest.raises(JobError, match="unknown"):
        DailySchedule.parse("0 2 * * *", "Mars/Olympus")
    ist = DailySchedule.parse("0 2 * * *", "Asia/Kolkata")
    # a run triggered at 02:00 IST on 24 Nov reads [23 Nov 02:00, 24 Nov 02:00) IST; ds is 22 Nov (UTC)
    assert ist.logical_date_at(dt.datetime(2026, 11, 23, 20, 30, tzinfo=dt.UTC)) == dt.date(2026, 11, 22)
    assert ist.interval_for(dt.date(2026, 11, 22)) == (
        dt.datetime(2026, 11, 22, 20, 30, tzinfo=dt.UTC),
        dt.datetime(2026, 11, 23, 20, 30, tzinfo=dt.UTC),
    )
