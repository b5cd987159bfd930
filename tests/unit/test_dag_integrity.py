"""DAG integrity: imports cleanly, groups in configured order, defaults set, parse budget, import rules."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lakehouse_airflow.build.dag import build_dag
from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.describe.pipeline import BRONZE_STEPS
from lakehouse_contract.specs import ExtractSpec, GoldSpec, Rule, SilverSpec, WriteBronzeSpec
from support.specs import flags, spec_of

ROOT = Path(__file__).resolve().parents[2]
CFG = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")


@pytest.fixture(scope="module")
def dagbag():
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(ROOT / "dags"))


def test_dagbag_imports_without_errors(dagbag) -> None:
    assert dagbag.import_errors == {}
    assert "inventory_lakehouse" in dagbag.dags


def test_one_group_per_table_in_priority_order_with_verb_tasks(dagbag) -> None:
    dag = dagbag.dags["inventory_lakehouse"]
    children = dag.task_group.children
    # bronze groups in priority order, shown by table name; task ids keep the table name (deployed ids)
    names = [t.name for t in CFG.ordered_tables()]
    bronze = list(children)[: len(names)]
    assert bronze == [f"{i:02d}_{n}" for i, n in enumerate(names, start=1)]
    assert [children[g].group_display_name for g in bronze] == names
    assert list(children)[len(names) :] == ["inventory_silver", "inventory_gold", "summary"]
    groups = names
    for group_id, group in zip(bronze, groups, strict=True):
        tasks = list(children[group_id].children.values())
        assert [t.task_id for t in tasks] == [f"{group}.{s}" for s in BRONZE_STEPS]
        assert [t.task_display_name for t in tasks] == list(BRONZE_STEPS)
        assert dag.get_task(f"{group}.extract").upstream_task_ids == {f"{group}.validate_connection"}
        assert dag.get_task(f"{group}.audit").trigger_rule == "all_done"
    # bronze tables are independent: no edge crosses a bronze group (error isolation)
    for task in dag.tasks:
        if task.task_id.split(".")[0] in groups:
            assert all(up.split(".")[0] == task.task_id.split(".")[0] for up in task.upstream_task_ids)
    weights = [dag.get_task(f"{g}.extract").priority_weight for g in groups]
    assert weights == sorted(weights, reverse=True)


def test_grid_lists_the_groups_in_pipeline_order(dagbag) -> None:
    """What the Airflow 3 UI draws: the API's own task-group tree of the serialized DAG (whose
    children come back sorted by id), with the labels it shows."""
    from airflow.api_fastapi.core_api.services.ui.task_group import task_group_to_dict
    from airflow.serialization.serialized_objects import DagSerialization

    dag = DagSerialization.from_dict(DagSerialization.to_dict(dagbag.dags["inventory_lakehouse"]))
    tree = task_group_to_dict(dag.task_group)
    shown = [child["label"] for child in tree["children"]]
    assert shown == [*(t.name for t in CFG.ordered_tables()), "inventory_silver", "inventory_gold", "summary"]
    assert [c["label"] for c in tree["children"][0]["children"]] == list(BRONZE_STEPS)


def test_schedule_and_defaults(dagbag) -> None:
    dag = dagbag.dags["inventory_lakehouse"]
    assert dag.max_active_runs == 1 and dag.catchup is False
    assert dag.timetable.expression == "0 2 * * *"
    assert str(dag.timetable.timezone.name) == "Asia/Kolkata"
    assert type(dag.timetable).__name__ == "CronDataIntervalTimetable"  # runs carry a data interval
    assert set(dag.tags) == {"inventory", "lakehouse", "bronze", "silver", "gold"}
    assert "order_details" in dag.doc_md
    for task in dag.tasks:
        assert task.owner == "data-platform"
        if not task.task_id.endswith(".audit") and task.task_id != "summary":  # once, whatever happened upstream
            assert task.retries >= 2
            assert task.retry_exponential_backoff


def test_spark_tasks_use_spark_submit_and_carry_no_secret(dagbag) -> None:
    from airflow.providers.apache.spark.operators.spark_submit import SparkSubmitOperator

    dag = dagbag.dags["inventory_lakehouse"]
    extract = dag.get_task("order_details.extract")
    assert isinstance(extract, SparkSubmitOperator)
    args = extract.application_args
    assert args[0] == "extract"
    spec = spec_of(args)
    assert isinstance(spec, ExtractSpec) and spec.columns == CFG.tables["order_details"].columns
    assert spec.jdbc_secret == "env:LAKEHOUSE_JDBC" and spec.source == "tests.order_details"
    assert (spec.dag_id, spec.task_id, spec.table) == ("inventory_lakehouse", "order_details.extract", "order_details")
    assert flags(args)["--run-id"] == "{{ run_id }}" and flags(args)["--logical-date"] == "{{ ds }}"
    assert not any("password" in a.lower() for a in args)
    assert extract.application.endswith("spark_jobs/run.py")


def test_dag_file_parses_within_budget() -> None:
    """Parsing the DAG file (after Airflow itself is imported) stays under a second (the expectation
    expressions parsed by sqlglot included; ~0.3-0.4 s here, more on a loaded machine)."""
    code = (
        "import time, sys; import airflow.sdk, airflow.providers.apache.spark.operators.spark_submit, "
        "airflow.providers.postgres.hooks.postgres; t=time.perf_counter(); "
        f"sys.path.insert(0, {str(ROOT / 'dags')!r}); import lakehouse_pipelines; "
        "print(time.perf_counter()-t)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert float(out.stdout.strip().splitlines()[-1]) < 1.0


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


def test_layer_dependencies_derived_from_declarations(dagbag) -> None:
    dag = dagbag.dags["inventory_lakehouse"]
    up = lambda task_id: dag.get_task(task_id).upstream_task_ids  # noqa: E731
    # silver: its own bronze group, plus the parents its foreign keys are checked against
    assert up("inventory_silver.suppliers") == {"suppliers.audit"}
    assert up("inventory_silver.order_details") == {
        "order_details.audit",
        "inventory_silver.orders",
        "inventory_silver.products",
    }
    # gold: the silver tables it reads (dq_results = every silver table)
    assert up("inventory_gold.daily_sales") == {
        "inventory_silver.orders",
        "inventory_silver.order_details",
        "inventory_silver.products",
    }
    assert up("inventory_gold.executive_summary") == {f"inventory_silver.{t.name}" for t in CFG.silver_tables()}
    # a failing bronze table blocks only what reads it (directly or through a foreign key)
    # the run summary comes last, after every task, whatever their outcome
    summary = dag.get_task("summary")
    assert summary.upstream_task_ids == set(dag.task_ids) - {"summary"} and summary.trigger_rule == "all_done"
    returns_dependants = dag.get_task("returns.audit").get_flat_relative_ids(upstream=False) - {"summary"}
    assert returns_dependants == {
        "inventory_silver.returns",
        "inventory_gold.returns_by_reason",
        "inventory_gold.customer_summary",
        "inventory_gold.executive_summary",
    }
    # a table left out of a run (skipped) does not stop what reads it; a failed one does
    for task_id in ("inventory_silver.returns", "inventory_gold.daily_sales"):
        assert dag.get_task(task_id).trigger_rule == "none_failed"


def test_silver_and_gold_args_are_backend_neutral_and_secret_free(dagbag) -> None:

    dag = dagbag.dags["inventory_lakehouse"]
    silver = dag.get_task("inventory_silver.customers")
    args = silver.application_args
    spec = spec_of(args)
    assert args[0] == "silver" and isinstance(spec, SilverSpec) and spec.pii_key_secret == "env:LAKEHOUSE_PII_KEY"
    assert spec.pii == {"customer_name": "name", "email": "email", "phone": "phone"}
    assert spec.hashed_id == "customer_key"
    assert silver.pii_key_conn_id == "pii_hash_key"
    names = [r.name for r in spec.rules]
    assert names[:3] == ["customer_id_fits_contract", "updated_at_fits_contract", "customer_id_not_null"]
    assert "email_well_formed" in names
    orders = spec_of(dag.get_task("inventory_silver.orders").application_args)
    assert isinstance(orders, SilverSpec)
    assert (
        Rule("fk_customer_id", "expect_or_quarantine", None, "customer_id", "customers", "customer_id") in orders.rules
    )
    assert orders.pii_key_secret is None
    assert dag.get_task("inventory_silver.orders").pii_key_conn_id is None
    gold = dag.get_task("inventory_gold.daily_sales").application_args
    gold_spec = spec_of(gold)
    assert gold[0] == "gold" and isinstance(gold_spec, GoldSpec) and Path(gold_spec.sql_file).is_file()
    assert gold_spec.inputs == ("orders", "order_details", "products")


def test_incremental_tables_get_the_run_interval_and_mode(dagbag) -> None:
    dag = dagbag.dags["inventory_lakehouse"]
    args = dag.get_task("orders.extract").application_args
    value, spec = flags(args), spec_of(args)
    assert isinstance(spec, ExtractSpec)
    assert spec.load_mode == "incremental" and spec.watermark_column == "updated_at"
    assert value["--interval-start"] == "{{ data_interval_start }}"
    assert value["--interval-end"] == "{{ data_interval_end }}"
    assert value["--mode"] == "{{ params.mode }}"
    assert spec.source_timezone == "Asia/Kolkata" and spec.delete_detection == "every_run"
    orders = CFG.tables["orders"]
    assert (spec.num_partitions, spec.fetch_size) == (orders.num_partitions, orders.fetch_size)  # from the config
    write = spec_of(dag.get_task("orders.write_bronze").application_args)
    assert isinstance(write, WriteBronzeSpec)  # stats: keys, loads' and Z-ORDER's columns
    assert write.stats_columns == (
        "order_id",
        "updated_at",
        "customer_id",
        "order_date",
        "_logical_date",
        "_record_status",
    )
    assert spec.primary_key == ("order_id",)
    products = spec_of(dag.get_task("products.extract").application_args)
    assert isinstance(products, ExtractSpec) and products.load_mode == "full"
    silver = spec_of(dag.get_task("inventory_silver.orders").application_args)
    assert isinstance(silver, SilverSpec)
    assert silver.load_mode == "incremental" and silver.watermark_column == "updated_at"


def test_trigger_params_offer_tables_and_mode(dagbag) -> None:
    params = dagbag.dags["inventory_lakehouse"].params
    assert params["mode"] == "incremental" and params["tables"] == []
    schema = params.get_param("tables").schema
    assert schema["items"]["enum"] == [t.name for t in CFG.ordered_tables()]
    assert params.get_param("mode").schema["enum"] == ["incremental", "full"]
    with pytest.raises(Exception, match="not one of"):
        params.get_param("mode").resolve("sometimes")
    with pytest.raises(Exception, match="not one of"):
        params.get_param("tables").resolve(["nope"])


def test_tasks_of_unselected_tables_skip_themselves(dagbag) -> None:
    from airflow.sdk.exceptions import AirflowSkipException

    from lakehouse_airflow.build.params import skip_unless_selected

    dag = dagbag.dags["inventory_lakehouse"]
    assert dag.get_task("orders.extract").lakehouse_tables == ("orders",)
    gold = dag.get_task("inventory_gold.daily_sales").lakehouse_tables
    assert set(gold) == {"orders", "order_details", "products"}
    skip_unless_selected({"params": {"tables": []}}, ("orders",))  # empty selection: everything runs
    skip_unless_selected({"params": {"tables": ["products"]}}, gold)  # a gold model runs if any input runs
    with pytest.raises(AirflowSkipException, match="not selected"):
        skip_unless_selected({"params": {"tables": ["customers"]}}, gold)
