"""The shared contract: specs round-trip as JSON, bad documents fail by field, naming lives once."""

from __future__ import annotations

import ast
import re
from dataclasses import replace
from pathlib import Path

import pytest

from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.describe.maintenance import maintenance_specs
from lakehouse_airflow.describe.pipeline import location, pipeline_specs
from lakehouse_airflow.describe.tasks import SourceCheckTask, SparkTask, job_spec
from lakehouse_contract import layout, naming
from lakehouse_contract.audit import AUDIT_COLUMNS, AuditRow
from lakehouse_contract.checks import SourceCheckError, SourceUnreachableError, run_source_checks
from lakehouse_contract.results import ExtractOutcome, StepResult
from lakehouse_contract.serial import SpecError
from lakehouse_contract.specs import ExtractSpec, GoldSpec, SilverSpec, parse_spec

ROOT = Path(__file__).resolve().parents[2]
CFG = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")


def test_every_spec_of_the_shipped_pipeline_round_trips_as_json() -> None:
    tasks = [*pipeline_specs(CFG), *maintenance_specs(CFG)]
    specs = [job_spec(t) for t in tasks]
    assert {s.job for s in specs} == {"validate", "extract", "write_bronze", "audit", "silver", "gold", "maintain"}
    for spec in specs:
        assert parse_spec(spec.to_json()) == spec
        assert "{{" not in spec.to_json() and "{%" not in spec.to_json()  # renders unchanged through Jinja


def test_config_to_specs_is_a_pure_description() -> None:
    """The describe step reads the config: layer, table, step and upstream are fields, not guesses."""
    tasks = {t.full_id: t for t in pipeline_specs(CFG)}
    check = tasks["orders.validate_connection"]
    assert isinstance(check, SourceCheckTask) and check.conn_id == CFG.source.conn_id
    assert (check.layer, check.table, check.step) == ("bronze", "orders", "validate_connection")
    audit = tasks["orders.audit"]
    assert isinstance(audit, SparkTask) and audit.upstream_chain == (
        "orders.validate_connection", "orders.extract", "orders.write_bronze",
    )  # fmt: skip
    assert audit.upstream_error_of == "orders.validate_connection" and audit.spec.step is None
    extract = tasks["orders.extract"]
    assert isinstance(extract, SparkTask) and isinstance(extract.spec, ExtractSpec)
    assert extract.spec.location == location(CFG) and extract.source_conn_id == CFG.source.conn_id
    silver = tasks["inventory_silver.orders"]
    assert (silver.layer, silver.table, silver.step) == ("silver", "orders", "silver")
    assert isinstance(silver, SparkTask) and isinstance(silver.spec, SilverSpec)
    typed = ("order_id", "customer_id", "order_date", "total_amount", "updated_at")  # not the string column
    assert [r.name for r in silver.spec.rules[:6]] == [*(f"{c}_fits_contract" for c in typed), "order_id_not_null"]
    gold = tasks["inventory_gold.executive_summary"]
    assert gold.layer == "gold" and isinstance(gold, SparkTask) and isinstance(gold.spec, GoldSpec)
    assert set(gold.upstream) == {f"inventory_silver.{t.name}" for t in CFG.silver_tables()}
    assert [t.layer for t in tasks.values()] == sorted((t.layer for t in tasks.values()), key=naming.LAYERS.index)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(job="nope"), "spec.job: expected one of"),
        (lambda d: d.update(colour="blue"), "unknown field(s) ['colour']"),
        (lambda d: d.pop("source"), "extract spec.source: missing"),
        (lambda d: d.update(num_partitions="2"), "extract spec.num_partitions: expected int"),
        (lambda d: d.update(load_mode="sometimes"), "'sometimes' is not one of"),
        (lambda d: d["location"].update(root=3), "extract spec.location.root: expected str"),
    ],
)
def test_bad_spec_documents_name_the_field(mutate, message: str) -> None:
    import json

    spec = next(job_spec(t) for t in pipeline_specs(CFG) if t.full_id == "orders.extract")
    doc = json.loads(spec.to_json())
    mutate(doc)
    with pytest.raises(SpecError) as err:
        parse_spec(json.dumps(doc))
    assert message in str(err.value)


def test_outcomes_read_step_results_typed_and_strictly() -> None:
    done = ExtractOutcome(10, 10, "/l", "full", "full", None, None, None, None, None)
    result = StepResult("extract", "SUCCESS", "run", 1, metrics=done.metrics())
    assert ExtractOutcome.of(StepResult.from_json(result.to_json())) == done
    with pytest.raises(SpecError, match="extract result.rows_read: missing"):
        ExtractOutcome.of(replace(result, metrics={k: v for k, v in done.metrics().items() if k != "rows_read"}))


def test_layout_and_names_are_the_previous_versions() -> None:
    """A lakehouse written by the previous version keeps its paths and names."""
    schemas = naming.Schemas()
    assert str(naming.bronze(schemas, "orders")) == "inventory_bronze.bz_orders"
    assert str(naming.quarantine(schemas, "orders")) == "inventory_silver.orders_quarantine"
    assert [str(t) for t in naming.control_tables(schemas)] == [
        "inventory_bronze.bz_audit_log", "inventory_bronze.bz_watermarks",
        "inventory_silver.dq_results", "inventory_bronze.bz_maintenance_log",
    ]  # fmt: skip
    assert layout.step_result_path("/l", "d", "manual__2026-11-20T00:00:00+00:00", "orders", "extract") == (
        "/l/_control/step_results/d/manual__2026-11-20T00_00_00_00_00/orders/extract.json"
    )
    assert layout.landing_dir("/l", "orders", "2026-11-20") == "/l/landing/orders/logical_date=2026-11-20"
    where = naming.Location("/l", schemas, "main")
    assert where.qualified(naming.gold(schemas, "daily_sales")) == "main.inventory_gold.daily_sales"


def test_audit_row_is_spelled_once() -> None:
    assert [c for c, _, _ in AUDIT_COLUMNS][:3] == ["record_id", "source_table", "target_table"]
    assert len(AUDIT_COLUMNS) == 26 and AUDIT_COLUMNS[-2:] == (
        ("schema_changes", "string", True), ("rows_deduplicated", "bigint", True)
    )  # fmt: skip
    row = AuditRow(source_table="s", target_table="t", processed_by="p", status="SUCCESS", job_run_id="r",
                   dag_id="d", logical_date=None)  # type: ignore[arg-type]  # fmt: skip
    assert len(row.values()) == 26 and row["status"] == "SUCCESS"


def test_source_checks_run_in_order_and_name_the_failed_check() -> None:
    def query(answers: dict[str, list[tuple]]):
        def run(sql: str) -> list[tuple]:
            for key, rows in answers.items():
                if key in sql:
                    return rows
            raise AssertionError(sql)

        return run

    ok = {"EXISTS": [(True,)], "to_regclass": [(True,)], "information_schema": [("a",), ("b",)], "SELECT 1": [(1,)]}
    assert run_source_checks(query(ok), "s.t", ["a", "b"], False, "connection 'c'") == 2
    with pytest.raises(SourceCheckError, match=r"check 'contract columns' failed: s.t lacks columns \['z'\]"):
        run_source_checks(query(ok), "s.t", ["a", "z"], False, "connection 'c'")
    with pytest.raises(SourceCheckError, match="check 'not empty' failed: s.t has no rows"):
        run_source_checks(query({**ok, "EXISTS": [(False,)]}), "s.t", ["a"], False, "connection 'c'")
    assert run_source_checks(query({**ok, "EXISTS": [(False,)]}), "s.t", ["a"], True, "c") == 1

    def down(sql: str) -> list[tuple]:
        raise OSError("connection refused")

    with pytest.raises(SourceUnreachableError, match="check 'connect' failed for connection 'c'"):
        run_source_checks(down, "s.t", ["a"], False, "connection 'c'")
    with pytest.raises(SourceCheckError, match="not a schema.table"):
        run_source_checks(down, "s.t; drop", ["a"], False, "c")


NAMING = re.compile(r"\bbz_|(?<!expect_or)_quarantine\b|\bdq_results\b")
CODE = ["plugins", "spark_jobs", "dags", "benchmarks", "seed", "databricks_emulator"]


def _literals(path: Path) -> list[str]:
    """String constants of a module, docstrings left out."""
    tree = ast.parse(path.read_text())
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        n.value
        for n in ast.walk(tree)
        if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docs
    ]


def test_naming_literals_live_in_the_contract_only() -> None:
    found = {
        f"{p.relative_to(ROOT)}: {s!r}"
        for folder in CODE
        for p in (ROOT / folder).rglob("*.py")
        for s in _literals(p)
        if NAMING.search(s)
    }
    assert found == set()
    assert any(NAMING.search(s) for s in _literals(ROOT / "lakehouse_contract" / "naming.py"))
