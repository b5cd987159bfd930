"""The file source kind in pipeline files: what is accepted, what is refused with the field named,
and the task specs a file table becomes (no service)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from lakehouse_airflow.config import PipelineConfigError, load_pipeline
from lakehouse_airflow.config.pipeline import with_absolute_sql_paths
from lakehouse_airflow.describe.pipeline import pipeline_specs
from lakehouse_airflow.describe.tasks import SparkTask
from lakehouse_airflow.paths import PROJECT_ROOT
from lakehouse_contract.specs import ExtractFilesSpec, SilverSpec, ValidateFilesSpec, WriteBronzeSpec, parse_spec

RETURNS = PROJECT_ROOT / "include" / "pipelines" / "returns.yaml"
INVENTORY = PROJECT_ROOT / "include" / "pipelines" / "inventory.yaml"


def _write(tmp: Path, source: Path, mutate) -> Path:
    raw = with_absolute_sql_paths(yaml.safe_load(source.read_text()), source)
    mutate(raw)
    path = tmp / "p.yaml"
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def test_shipped_returns_pipeline_describes_file_tasks(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LAKEHOUSE_FILES_ROOT", "s3a://landing/drops")
    cfg = load_pipeline(RETURNS)
    specs = {s.full_id: s for s in pipeline_specs(cfg) if isinstance(s, SparkTask)}
    check, extract = specs["returns_web.validate_connection"].spec, specs["returns_web.extract"].spec
    assert isinstance(check, ValidateFilesSpec) and isinstance(extract, ExtractFilesSpec)
    assert extract.files.location == "s3a://landing/drops/returns_drops/returns_raw/web"
    assert extract.files.glob == "*.json*" and extract.files.on_bad_file == "fail"
    assert specs["returns_store.extract"].spec.files.options == {"header": "true", "sep": ","}
    write = specs["returns_web.write_bronze"].spec
    assert isinstance(write, WriteBronzeSpec) and "_source_file" in write.stats_columns
    silver = specs["returns_silver.returns_web"].spec
    assert isinstance(silver, SilverSpec) and silver.load_mode == "incremental"
    assert silver.watermark_column == "_file_modification_time" and silver.partition_by == ("return_date",)
    assert [d.name for d in silver.derive] == ["return_reason", "units", "amount_filled"]
    # an object-store source needs the storage connection even with a local lakehouse
    assert all(s.storage_conn_id == cfg.lakehouse.storage_conn_id for s in specs.values())
    # the specs travel as JSON and come back equal
    assert parse_spec(extract.to_json()) == extract and parse_spec(silver.to_json()) == silver


@pytest.mark.parametrize(
    ("source", "mutate", "expected"),
    [
        (RETURNS, lambda r: r["tables"]["returns_web"].pop("files"), "tables.returns_web.files: required"),
        (INVENTORY, lambda r: r["tables"]["orders"].update(files={"format": "json"}), "only for a file source"),
        (RETURNS, lambda r: r["tables"]["returns_web"]["files"].update(format="xml"), "files.format"),
        (RETURNS, lambda r: r["tables"]["returns_web"]["files"].update(date_pattern="(["), "not a regular expr"),
        (RETURNS, lambda r: r["tables"]["returns_store"]["files"]["options"].update(header="false"), "header"),
        (RETURNS, lambda r: r["tables"]["returns_web"]["files"].update(on_modified="append"), "on_modified"),
        (RETURNS, lambda r: r["source"].pop("system"), "source.system: Field required"),
        (
            RETURNS,
            lambda r: r["tables"]["returns_web"]["silver"]["derive"].update(x={"expr": "nope + 1", "type": "int"}),
            "silver.derive.x: 'nope + 1' refers to unknown columns ['nope']",
        ),
        (
            RETURNS,
            lambda r: r["tables"]["returns_web"]["silver"]["derive"].update(sku={"expr": "1", "type": "int"}),
            "silver.derive.sku: not a new",
        ),
        (
            RETURNS,
            lambda r: r["tables"]["returns_web"]["silver"]["derive"].update(x={"expr": "1", "type": "text"}),
            "type",
        ),
        (RETURNS, lambda r: r["tables"]["returns_web"]["silver"].update(partition_by=["day"]), "partition_by"),
    ],
)
def test_bad_file_source_config_is_refused_naming_the_field(tmp_path: Path, source: Path, mutate, expected) -> None:
    def apply(raw: dict) -> None:  # the two channels share YAML anchors: unshare before changing one
        raw["tables"] = yaml.safe_load(yaml.safe_dump(raw["tables"]))
        mutate(raw)

    with pytest.raises(PipelineConfigError) as err:
        load_pipeline(_write(tmp_path, source, apply))
    assert expected in str(err.value)


def test_rules_may_use_derived_columns(tmp_path: Path) -> None:
    def mutate(raw: dict) -> None:
        raw["tables"] = yaml.safe_load(yaml.safe_dump(raw["tables"]))
        raw["tables"]["returns_web"]["silver"]["expect_or_drop"] = {"some_units": "units > 0"}

    cfg = load_pipeline(_write(tmp_path, RETURNS, mutate))
    assert cfg.tables["returns_web"].silver.expect_or_drop == {"some_units": "units > 0"}


def test_a_databricks_environment_reads_local_file_roots_from_its_volume(monkeypatch: pytest.MonkeyPatch) -> None:
    """A local drop folder means nothing on a cluster: the environment's files root takes its place
    (a `files` volume folder beside the lakehouse by default); an object-store root is kept."""
    from lakehouse_airflow.config.environments import load_environments
    from lakehouse_airflow.databricks.payload import remote_spec

    prod = load_environments()["prod"].databricks
    assert prod is not None
    monkeypatch.delenv("LAKEHOUSE_FILES_ROOT", raising=False)
    local = {s.full_id: s.spec for s in pipeline_specs(load_pipeline(RETURNS)) if isinstance(s, SparkTask)}
    remote = remote_spec(local["returns_web.extract"], prod)
    assert isinstance(remote, ExtractFilesSpec)
    assert remote.files.location == "/Volumes/prod/inventory/files/returns_drops/returns_raw/web"
    assert remote.files.root == "/Volumes/prod/inventory/files/returns_drops"
    checked = remote_spec(local["returns_store.validate_connection"], prod)
    assert isinstance(checked, ValidateFilesSpec) and checked.files.location.startswith(
        "/Volumes/prod/inventory/files/"
    )
    monkeypatch.setenv("LAKEHOUSE_FILES_ROOT", "s3a://landing/drops")
    on_s3 = {s.full_id: s.spec for s in pipeline_specs(load_pipeline(RETURNS)) if isinstance(s, SparkTask)}
    kept = remote_spec(on_s3["returns_web.extract"], prod)
    assert isinstance(kept, ExtractFilesSpec)
    assert kept.files.location == "s3a://landing/drops/returns_drops/returns_raw/web"
