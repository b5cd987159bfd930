"""Pipeline config: the shipped file loads; invalid files fail naming the file and the field."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse_airflow.config import PipelineConfigError, load_pipeline, load_pipelines, with_absolute_sql_paths

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
SEED_ORDER = [
    "products", "suppliers", "warehouses", "customers", "inventory",
    "orders", "order_details", "shipments", "returns", "stock_levels",
]  # fmt: skip


def test_shipped_config_loads_in_seed_priority_order() -> None:
    cfg = load_pipeline(SHIPPED)
    assert [t.name for t in cfg.ordered_tables()] == SEED_ORDER
    assert cfg.source.database == "DE" and cfg.source.schema_name == "tests"
    assert cfg.tables["customers"].pii == {"customer_name": "name", "email": "email", "phone": "phone"}
    assert [t.name for t in cfg.silver_tables()] == SEED_ORDER
    assert list(cfg.gold.models) == [
        "daily_sales", "inventory_health", "returns_by_reason", "supplier_performance", "customer_summary",
        "executive_summary"]  # fmt: skip
    assert all(cfg.gold_sql_path(m).is_file() for m in cfg.gold.models)
    incremental = {t.name for t in cfg.tables.values() if t.load_mode == "incremental"}
    assert incremental == {"orders", "order_details", "inventory", "shipments", "returns", "stock_levels"}
    assert {cfg.tables[t].watermark_column for t in incremental} == {"updated_at"}
    assert cfg.source_timezone() == "Asia/Kolkata"
    # defaults flow into tables unless overridden
    assert cfg.tables["products"].fetch_size == cfg.defaults.fetch_size
    assert cfg.tables["order_details"].fetch_size == 50_000


def _write(tmp_path: Path, mutate) -> Path:
    raw = with_absolute_sql_paths(yaml.safe_load(SHIPPED.read_text()), SHIPPED)
    mutate(raw)
    path = tmp_path / "broken.yaml"
    path.write_text(yaml.safe_dump(raw))
    return path


@pytest.mark.parametrize(
    ("mutate", "expected"),
    [
        (lambda r: r["tables"]["orders"].update(colour="blue"), "tables.orders.colour: unknown key"),
        (lambda r: r["tables"]["orders"].pop("primary_key"), "tables.orders.primary_key: Field required"),
        (
            lambda r: r["tables"]["orders"].update(load_mode="sometimes"),
            "tables.orders.load_mode: Input should be 'full'",
        ),
        (lambda r: r.update(owner_team="x"), "owner_team: unknown key"),
        (
            lambda r: r["tables"]["orders"].update(primary_key=["nope"]),
            "primary_key names columns not in columns: ['nope']",
        ),
        (
            lambda r: r["tables"]["orders"]["columns"].update(order_id="uuid"),
            "column 'order_id' has unsupported type 'uuid'",
        ),
        (lambda r: r["tables"]["orders"].update(priority=1), "share priority 1"),
        (lambda r: r["source"].pop("conn_id"), "source.conn_id: Field required"),
        (
            lambda r: r["tables"]["orders"]["silver"]["foreign_keys"].update(customer_id="nobody"),
            "tables.orders.silver.foreign_keys.customer_id: parent 'nobody' is not another table with a silver layer",
        ),
        (
            lambda r: r["tables"]["suppliers"]["silver"].update(foreign_keys={"supplier_id": "products"}),
            "silver foreign keys form a cycle: products -> suppliers -> products",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(expect={"order_id_not_null": "true"}),
            "silver rule names ['order_id_not_null'] collide with generated rules",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(expect_sometimes={"x": "true"}),
            "tables.orders.silver.expect_sometimes: unknown key",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(expect={"Bad Name": "true"}),
            "rule name 'Bad Name' is not a lower-case identifier",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(expect={"x": "{{ var.value.x }}"}),
            "silver.expect.x: Jinja markers are not allowed",
        ),
        (  # expectation expressions are parsed at load (sqlglot, Spark grammar)
            lambda r: r["tables"]["orders"]["silver"].update(expect={"x": "total_amount >"}),
            "silver.expect.x: 'total_amount >' is not valid Spark SQL",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(expect={"x": "total_amount > 0; DROP TABLE orders"}),
            "must be one expression, found 2 statements",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(expect={"x": "amount > 0"}),
            "silver.expect.x: 'amount > 0' refers to unknown columns ['amount']",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(expect_or_drop={"x": "sum(total_amount) > 0"}),
            "is not row-level: it uses an aggregate function",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(
                expect={"x": "order_id IN (SELECT order_id FROM inventory_silver.orders)"}
            ),
            "is not row-level: it uses a sub-query",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(expect_or_fail={"x": "total_amount * 2"}),
            "silver.expect_or_fail.x: 'total_amount * 2' is not a boolean condition",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(expect={"x": "o.total_amount > 0"}),
            "refers to qualified columns ['o.total_amount']",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(expect={"x": "total_amount > 0 -- and more"}),
            "must not contain SQL comments",
        ),
        (
            lambda r: r["tables"]["customers"].update(pii={"email": "blur"}),
            "tables.customers.pii.email: Input should be",
        ),
        (
            lambda r: r["gold"]["models"]["daily_sales"].update(inputs=["orders", "nope"]),
            "gold.models.daily_sales.inputs: ['nope'] are not silver tables of this pipeline",
        ),
        (
            lambda r: r["gold"]["models"]["daily_sales"].update(sql_file="missing.sql"),
            "gold.models.daily_sales.sql_file: ",
        ),
        (
            lambda r: r["tables"]["customers"]["silver"].update(history="scd2"),
            "silver.history: scd2 builds the versions from change rows or dated slices",
        ),
        (
            lambda r: r["tables"]["orders"]["silver"].update(history="scd1"),
            "tables.orders.silver.history: Input should be 'none' or 'scd2'",
        ),
    ],
)
def test_invalid_config_names_file_and_field(tmp_path: Path, mutate, expected: str) -> None:
    path = _write(tmp_path, mutate)
    with pytest.raises(PipelineConfigError) as err:
        load_pipeline(path)
    assert str(err.value).startswith(f"{path}: ")
    assert expected in str(err.value)


def test_unparseable_yaml_is_a_named_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("dag_id: [unclosed\n")
    with pytest.raises(PipelineConfigError, match=rf"^{path}: cannot read pipeline config"):
        load_pipeline(path)


def test_duplicate_dag_ids_across_files(tmp_path: Path) -> None:
    text = _write(tmp_path, lambda r: None).read_text()
    for name in ("a.yaml", "b.yaml"):
        (tmp_path / "dup").mkdir(exist_ok=True)
        (tmp_path / "dup" / name).write_text(text)
    with pytest.raises(PipelineConfigError, match="b.yaml: dag_id: 'inventory_lakehouse' is already defined"):
        load_pipelines(tmp_path / "dup")


def test_eleventh_table_is_config_only(tmp_path: Path) -> None:
    raw = yaml.safe_load(_write(tmp_path, lambda r: None).read_text())
    raw["tables"]["categories"] = {
        "priority": 11,
        "primary_key": ["category_id"],
        "columns": {"category_id": "bigint", "label": "string"},
    }
    (tmp_path / "eleven").mkdir()
    (tmp_path / "eleven" / "p.yaml").write_text(yaml.safe_dump(raw))
    (cfg,) = load_pipelines(tmp_path / "eleven")
    assert cfg.ordered_tables()[-1].name == "categories"
    assert cfg.tables["categories"].num_partitions == cfg.defaults.num_partitions


def test_second_pipeline_without_defaults_block_loads() -> None:
    cfg = load_pipeline(ROOT / "tests" / "fixtures" / "pipelines" / "catalog.yaml")
    assert [t.name for t in cfg.ordered_tables()] == ["vendors", "items"]
    assert cfg.tables["items"].source == "products" and cfg.tables["items"].load_mode == "full"
    assert cfg.tables["items"].fetch_size == 10_000  # TableDefaults applies when the file has no defaults
    assert cfg.lakehouse.silver_schema == "catalog_silver"


@pytest.mark.parametrize(
    "expr",
    [
        "total_amount >= 0",
        "status RLIKE '^[A-Z]+$'",
        "order_date BETWEEN DATE'2000-01-01' AND current_date() + 1",
        "CASE WHEN status = 'CANCELLED' THEN total_amount = 0 ELSE true END",
        "startswith(status, 'X') OR status IS NULL",
        "exists(array(order_id, customer_id), k -> k > 0)",
        "CAST(order_id AS BOOLEAN)",
    ],
)
def test_row_level_boolean_expressions_are_accepted(tmp_path: Path, expr: str) -> None:
    path = _write(tmp_path, lambda r: r["tables"]["orders"]["silver"].update(expect={"x": expr}))
    table = load_pipeline(path).tables["orders"]
    assert table.silver.expect == {"x": expr}


def test_scd2_history_is_a_table_the_silver_task_commits_and_maintenance_keeps(tmp_path: Path) -> None:
    from lakehouse_airflow.describe.maintenance import maintenance_specs
    from lakehouse_airflow.describe.pipeline import silver_spec
    from lakehouse_contract.naming import TableName

    cfg = load_pipeline(_write(tmp_path, lambda r: r["tables"]["orders"]["silver"].update(history="scd2")))
    spec = silver_spec(cfg, cfg.tables["orders"])
    assert spec.history == "scd2"
    assert TableName("inventory_silver", "orders_history") in spec.commits()
    assert TableName("inventory_silver", "customers_history") not in silver_spec(cfg, cfg.tables["customers"]).commits()
    maintained = {t for s in maintenance_specs(cfg) for t in s.spec.tables}
    assert "inventory_silver.orders_history" in maintained
