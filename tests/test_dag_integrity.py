"""DAG integrity: imports cleanly, groups in configured order, defaults set, parse budget, import rules."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.dag_builder import build_dag

ROOT = Path(__file__).resolve().parents[1]
CFG = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dagbag_imports_without_errors(dagbag) -> None:  # noqa: ANN001
    assert dagbag.import_errors == {}
    assert "inventory_lakehouse" in dagbag.dags


def test_one_group_per_table_in_priority_order_with_verb_tasks(dagbag) -> None:  # noqa: ANN001
    dag = dagbag.dags["inventory_lakehouse"]
    groups = list(dag.task_group.children)
    assert groups == [t.name for t in CFG.ordered_tables()]
    for group in groups:
        ids = [t.task_id for t in dag.task_group.children[group].children.values()]
        assert ids == [f"{group}.{s}" for s in ("validate_connection", "extract", "write_bronze", "audit")]
        assert dag.get_task(f"{group}.extract").upstream_task_ids == {f"{group}.validate_connection"}
        assert dag.get_task(f"{group}.audit").trigger_rule == "all_done"
    # tables are independent: no edge crosses a group (error isolation)
    for task in dag.tasks:
        assert all(up.split(".")[0] == task.task_id.split(".")[0] for up in task.upstream_task_ids)
    weights = [dag.get_task(f"{g}.extract").priority_weight for g in groups]
    assert weights == sorted(weights, reverse=True)


def test_schedule_and_defaults(dagbag) -> None:  # noqa: ANN001
    dag = dagbag.dags["inventory_lakehouse"]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.timetable.expression == "0 2 * * *"
    assert str(dag.timetable.timezone.name) == "Asia/Kolkata"
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"  # runs carry a data interval
    assert set(dag.tags) == {"inventory", "lakehouse", "bronze"}
    assert "order_details" in dag.doc_md
    for task in dag.tasks:
        assert task.owner == "data-platform"
        if not task.task_id.endswith(".audit"):
            assert task.retries >= 2
            assert task.retry_exponential_backoff


def test_spark_tasks_use_spark_submit_and_carry_no_secret(dagbag) -> None:  # noqa: ANN001
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    dag = dagbag.dags["inventory_lakehouse"]
    extract = dag.get_task("order_details.extract")
    assert isinstance(extract, SparkSubmitOperator)
    args = extract.application_args
    assert args[0] == "extract"
    assert args[args.index("--columns") + 1] == ",".join(CFG.tables["order_details"].columns)
    assert args[args.index("--jdbc-secret") + 1] == "env:LAKEHOUSE_JDBC"
    assert args[args.index("--source") + 1] == "tests.order_details"
    assert "{{ run_id }}" in args and "{{ ds }}" in args
    assert not any("password" in a.lower() for a in args)
    assert extract.application.endswith("spark_jobs/run.py")


def test_dag_file_parses_within_budget() -> None:
    """Parsing the DAG file (after Airflow itself is imported) stays well under a second."""
    code = (
        "import time, sys; import airflow.sdk, airflow.providers.apache.spark.operators.spark_submit, "
        "airflow.providers.postgres.hooks.postgres; t=time.perf_counter(); "
        f"sys.path.insert(0, {str(ROOT / 'dags')!r}); import lakehouse_pipelines; "
        "print(time.perf_counter()-t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout.strip().splitlines()[-1]) < 0.5


def test_building_twice_is_deterministic() -> None:
    a, b = build_dag(CFG), build_dag(CFG)
    assert [t.task_id for t in a.tasks] == [t.task_id for t in b.tasks]
    assert [t.application_args for t in a.tasks if hasattr(t, "application_args")] == [
        t.application_args for t in b.tasks if hasattr(t, "application_args")
    ]


def _imports(folder: str, modules: str) -> list[str]:
    pattern = re.compile(rf"^\s*(import|from)\s+({modules})\b", re.M)
    return [str(p) for p in (ROOT / folder).rglob("*.py") if pattern.search(p.read_text())]


def test_orchestration_never_imports_spark() -> None:
    assert _imports("dags", "pyspark|delta") == []
    assert _imports("plugins", "pyspark|delta") == []


def test_spark_jobs_never_import_airflow() -> None:
    assert _imports("spark_jobs", "airflow") == []


def test_parse_does_not_import_pyspark() -> None:
    code = f"import sys; sys.path.insert(0, {str(ROOT / 'dags')!r}); import lakehouse_pipelines; print('pyspark' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "False"


def test_time_budget_sanity() -> None:
    start = time.perf_counter()
    build_dag(CFG)
    assert time.perf_counter() - start < 1.0
