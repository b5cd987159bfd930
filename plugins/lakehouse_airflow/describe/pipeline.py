"""Describe, then instantiate: pipeline config -> typed task specs (pure data, no Airflow objects).

Each Spark task carries its job's typed spec (``lakehouse_contract.specs``); the same spec runs
under spark-submit and on Databricks (where only locations and secret references change).
"""

from __future__ import annotations

from dataclasses import replace
from typing import TypeVar

from lakehouse_airflow.config.pipeline import PipelineConfig, TableConfig
from lakehouse_airflow.config.sources import FileSourceConfig, SourceConfig
from lakehouse_airflow.describe.tasks import SourceCheckTask, SparkTask, TaskSpec, TriggerRule
from lakehouse_airflow.paths import files_root, lakehouse_root
from lakehouse_contract.naming import (
    CAST_FAILED,
    CDC_LSN,
    CONTROL_INPUTS,
    SOURCE_FILE,
    Location,
    Schemas,
    cdc_slot,
    fits_rule,
)
from lakehouse_contract.secrets import JDBC_ENV_PREFIX, PII_KEY_ENV, env_ref
from lakehouse_contract.specs import (
    AuditSpec,
    CdcSource,
    Derived,
    ExtractCdcSpec,
    ExtractFilesSpec,
    ExtractSpec,
    FileSource,
    GoldSpec,
    Rule,
    SilverSpec,
    ValidateFilesSpec,
    ValidateSpec,
    WriteBronzeSpec,
)
from lakehouse_contract.storage import is_object_store

BRONZE_STEPS = ("validate_connection", "extract", "write_bronze", "audit")
# silver/gold run when no upstream failed: a parent table left out of the run (skipped) keeps its
# current silver table, a failed one still stops its dependants (upstream_failed)
LAYER_TRIGGER: TriggerRule = "none_failed"
T = TypeVar("T", bound=TaskSpec)


def location(cfg: PipelineConfig) -> Location:
    lh = cfg.lakehouse
    return Location(
        lakehouse_root(lh.root), Schemas(lh.bronze_schema, lh.silver_schema, lh.gold_schema, lh.bronze_prefix)
    )


def storage_conn(cfg: PipelineConfig, *other_roots: str) -> str | None:
    """The ``aws`` connection a Spark task needs when the lakehouse (or another root it touches,
    a DR replica, a file source) is on an object store."""
    sources = [file_source(cfg, t).location for t in cfg.tables.values() if t.files is not None]
    roots = (location(cfg).root, *sources, *other_roots)
    return cfg.lakehouse.storage_conn_id if any(is_object_store(r) for r in roots) else None


def with_storage(cfg: PipelineConfig, specs: list[T]) -> list[T]:
    conn = storage_conn(cfg)
    if conn is None:
        return specs
    return [replace(s, storage_conn_id=conn) if isinstance(s, SparkTask) else s for s in specs]  # type: ignore[misc]


def source_name(cfg: PipelineConfig, table: TableConfig) -> str:
    """A JDBC table's ``schema.table`` in the source database."""
    assert isinstance(cfg.source, SourceConfig), "a file source has no source tables"
    return f"{cfg.source.schema_name}.{table.source}"


def source_label(cfg: PipelineConfig, table: TableConfig) -> str:
    """What a table reads, for people: ``schema.table``, or the file location and glob."""
    if table.files is not None:
        source = file_source(cfg, table)
        return f"{source.location}/**/{source.glob}"
    return source_name(cfg, table)


def bronze_stats_columns(table: TableConfig) -> tuple[str, ...]:
    """The bronze columns worth file statistics: keys and the columns loads, readers and Z-ORDER
    filter or cluster on (statistics on every column cost ~30 % of a bronze write)."""
    wanted = [*table.primary_key, table.partition_column, table.watermark_column, *table.zorder]
    picked = [c for c in wanted if c and c in table.columns]
    return (*dict.fromkeys(picked), "_logical_date", "_record_status")


def file_source(cfg: PipelineConfig, table: TableConfig) -> FileSource:
    """A file table's location and reading rules, resolved (the source root from the environment)."""
    assert isinstance(cfg.source, FileSourceConfig) and table.files is not None
    files = table.files
    root = files_root(cfg.source.root, cfg.source.system)
    return FileSource(
        location=f"{root}/{(files.path or table.source).strip('/')}", root=root, format=files.format,
        glob=files.file_glob(),
        options=files.reader_options(), date_pattern=files.date_pattern, on_modified=files.on_modified,
        on_bad_file=files.on_bad_file,
    )  # fmt: skip


def file_bronze_specs(cfg: PipelineConfig, table: TableConfig) -> list[TaskSpec]:
    """A file table's chain: the same four steps, the source ones reading files."""
    g, d, where = table.name, cfg.dag_id, location(cfg)
    source = file_source(cfg, table)
    validate_id, extract_id, write_id, audit_id = (f"{g}.{step}" for step in BRONZE_STEPS)
    check = ValidateFilesSpec(dag_id=d, task_id=validate_id, table=g, location=where, files=source,
                              columns=dict(table.columns), allow_empty=table.allow_empty)  # fmt: skip
    extract = ExtractFilesSpec(
        dag_id=d, task_id=extract_id, table=g, location=where, files=source, columns=dict(table.columns),
        primary_key=table.primary_key, source_timezone=cfg.source_timezone(), allow_empty=table.allow_empty,
    )  # fmt: skip
    write = WriteBronzeSpec(
        dag_id=d, task_id=write_id, table=g, location=where, source_system=cfg.source.system,
        watermark_column=table.watermark_column, stats_columns=(*bronze_stats_columns(table), SOURCE_FILE),
        allow_empty=True, files=source, columns=dict(table.columns), cdc=None,
    )  # fmt: skip
    audit = AuditSpec(dag_id=d, task_id=audit_id, table=g, location=where, source=source.location,
                      audit_table=cfg.lakehouse.audit_table)  # fmt: skip
    chain = (validate_id, extract_id, write_id)
    return [
        SparkTask(group=g, layer="bronze", table=g, tables=(g,), task_id="validate_connection",
                  step="validate_connection", spec=check),
        SparkTask(group=g, layer="bronze", table=g, tables=(g,), task_id="extract", step="extract", spec=extract,
                  upstream=(validate_id,)),
        SparkTask(group=g, layer="bronze", table=g, tables=(g,), task_id="write_bronze", step="write_bronze",
                  spec=write, upstream=(extract_id,)),
        SparkTask(group=g, layer="bronze", table=g, tables=(g,), task_id="audit", step="audit", spec=audit,
                  upstream=(write_id,), trigger_rule="all_done", retries=0, upstream_chain=chain),
    ]  # fmt: skip


def cdc_source(cfg: PipelineConfig, table: TableConfig) -> CdcSource:
    """A CDC table's slot and publication (named by the contract), and its source connection."""
    name = cdc_slot(cfg.dag_id, table.name)
    return CdcSource(source=source_name(cfg, table), slot=name, publication=name, jdbc_secret=env_ref(JDBC_ENV_PREFIX))


def _extract_spec(cfg: PipelineConfig, table: TableConfig, task_id: str) -> ExtractSpec | ExtractCdcSpec:
    g, d, where = table.name, cfg.dag_id, location(cfg)
    if table.cadence == "cdc":
        return ExtractCdcSpec(
            dag_id=d, task_id=task_id, table=g, location=where, cdc=cdc_source(cfg, table),
            columns=dict(table.columns), primary_key=table.primary_key, source_timezone=cfg.source_timezone(),
            max_changes=table.cdc_max_changes, partition_column=table.partition_column,
            num_partitions=table.num_partitions, fetch_size=table.fetch_size, allow_empty=table.allow_empty,
        )  # fmt: skip
    source, jdbc = source_name(cfg, table), env_ref(JDBC_ENV_PREFIX)
    return ExtractSpec(
        dag_id=d, task_id=task_id, table=g, location=where,
        source=source, columns=dict(table.columns), jdbc_secret=jdbc,
        primary_key=table.primary_key, load_mode=table.load_mode, watermark_column=table.watermark_column,
        source_timezone=cfg.source_timezone(), delete_detection=table.delete_detection,
        lookback_minutes=table.lookback_minutes,
        partition_column=table.partition_column, num_partitions=table.num_partitions, fetch_size=table.fetch_size,
        allow_empty=table.allow_empty, hourly=table.cadence == "hourly", day_zone=cfg.timezone,
    )  # fmt: skip


def bronze_specs(cfg: PipelineConfig, table: TableConfig) -> list[TaskSpec]:
    """validate_connection -> extract -> write_bronze -> audit for one table (a CDC table's extract
    reads the replication log, and its write_bronze confirms the slot: both need the source)."""
    if table.files is not None:
        return file_bronze_specs(cfg, table)
    assert isinstance(cfg.source, SourceConfig)
    g, d, where = table.name, cfg.dag_id, location(cfg)
    source, jdbc = source_name(cfg, table), env_ref(JDBC_ENV_PREFIX)
    validate_id, extract_id, write_id, audit_id = (f"{g}.{step}" for step in BRONZE_STEPS)
    check = ValidateSpec(
        dag_id=d, task_id=validate_id, table=g, location=where,
        source=source, columns=dict(table.columns), jdbc_secret=jdbc, allow_empty=table.allow_empty,
    )  # fmt: skip
    extract = _extract_spec(cfg, table, extract_id)
    cdc = cdc_source(cfg, table) if table.cadence == "cdc" else None
    write = WriteBronzeSpec(
        dag_id=d, task_id=write_id, table=g, location=where,
        source_system=cfg.source.system, watermark_column=table.watermark_column,
        stats_columns=(*bronze_stats_columns(table), *([CDC_LSN] if cdc else [])), allow_empty=table.allow_empty,
        files=None, columns={}, cdc=cdc, hourly=table.cadence == "hourly", day_zone=cfg.timezone,
    )  # fmt: skip
    audit = AuditSpec(dag_id=d, task_id=audit_id, table=g, location=where, source=source,
                      audit_table=cfg.lakehouse.audit_table)  # fmt: skip
    chain = (validate_id, extract_id, write_id)
    return [
        SourceCheckTask(group=g, layer="bronze", table=g, tables=(g,), task_id="validate_connection",
                        step="validate_connection", check=check, conn_id=cfg.source.conn_id),
        SparkTask(group=g, layer="bronze", table=g, tables=(g,), task_id="extract", step="extract", spec=extract,
                  upstream=(validate_id,), source_conn_id=cfg.source.conn_id),
        SparkTask(group=g, layer="bronze", table=g, tables=(g,), task_id="write_bronze", step="write_bronze",
                  spec=write, upstream=(extract_id,), source_conn_id=cfg.source.conn_id if cdc else None),
        SparkTask(group=g, layer="bronze", table=g, tables=(g,), task_id="audit", step="audit", spec=audit,
                  upstream=(write_id,), trigger_rule="all_done", retries=0, upstream_chain=chain,
                  upstream_error_of=validate_id),
    ]  # fmt: skip


def silver_rules(cfg: PipelineConfig, table: TableConfig) -> tuple[Rule, ...]:
    """The table's expectations in evaluation order; every typed (non-string) column gets a
    generated ``<col>_fits_contract`` quarantine rule (a value that does not fit its type is not a
    crash and not a silent NULL), primary-key and ``required`` columns a ``<col>_not_null`` rule,
    foreign keys an ``fk_<col>`` rule."""
    sv = table.silver
    rules = [
        Rule(fits_rule(c), "expect_or_quarantine", f"NOT array_contains({CAST_FAILED}, '{c}')")
        for c, typ in table.columns.items()
        if typ != "string"
    ]
    rules += [Rule(f"{c}_not_null", "expect_or_quarantine", f"{c} IS NOT NULL") for c in table.silver_required()]
    for action in ("expect_or_fail", "expect_or_quarantine", "expect_or_drop", "expect"):
        rules += [Rule(n, action, e) for n, e in getattr(sv, action).items()]
    for col, fk in sv.foreign_keys.items():
        parent_key = cfg.tables[fk.parent].primary_key[0]
        rules.append(Rule(f"fk_{col}", fk.action, fk_column=col, fk_parent=fk.parent, fk_parent_key=parent_key))
    return tuple(rules)


def silver_spec(cfg: PipelineConfig, table: TableConfig) -> SilverSpec:
    group = cfg.lakehouse.silver_schema
    needs_key = bool(table.pii or table.silver.hashed_id)
    # identifiers and expressions are validated by the config (no Jinja markers), so the spec
    # renders unchanged through the operator's templating
    return SilverSpec(
        dag_id=cfg.dag_id, task_id=f"{group}.{table.name}", table=table.name, location=location(cfg),
        primary_key=table.primary_key, columns=dict(table.columns), required=table.silver_required(),
        lowercase=table.silver.lowercase, pii=dict(table.pii), hashed_id=table.silver.hashed_id,
        load_mode="cdc" if table.cadence == "cdc" else table.load_mode, watermark_column=table.watermark_column,
        rules=silver_rules(cfg, table),
        pii_key_secret=env_ref(PII_KEY_ENV) if needs_key else None, audit_table=cfg.lakehouse.audit_table,
        derive=tuple(Derived(n, d.expr, d.type) for n, d in table.silver.derive.items()),
        partition_by=table.silver.partition_by, history=table.silver.history,
        hourly=table.cadence == "hourly", day_zone=cfg.timezone,
    )  # fmt: skip


def silver_specs(cfg: PipelineConfig) -> list[TaskSpec]:
    """One task per silver table, after its bronze group and the silver tables it checks keys against."""
    group = cfg.lakehouse.silver_schema
    specs: list[TaskSpec] = []
    for table in cfg.silver_tables():
        spec = silver_spec(cfg, table)
        parents = [f"{group}.{fk.parent}" for fk in table.silver.foreign_keys.values()]
        specs.append(SparkTask(group=group, task_id=table.name, layer="silver", table=table.name, step="silver",
                               spec=spec, upstream=(f"{table.name}.audit", *dict.fromkeys(parents)),
                               trigger_rule=LAYER_TRIGGER, tables=(table.name,),
                               pii_key_conn_id=cfg.privacy.key_conn_id if spec.pii_key_secret else None))  # fmt: skip
    return specs


def gold_specs(cfg: PipelineConfig) -> list[TaskSpec]:
    """One task per gold model, after the silver tables it reads (``dq_results``: all of them)."""
    silver_group, group = cfg.lakehouse.silver_schema, cfg.lakehouse.gold_schema
    all_silver = [f"{silver_group}.{t.name}" for t in cfg.silver_tables()]
    specs: list[TaskSpec] = []
    for name, model in cfg.gold.models.items():
        spec = GoldSpec(dag_id=cfg.dag_id, task_id=f"{group}.{name}", table=name, location=location(cfg),
                        sql_file=str(cfg.gold_sql_path(name)), inputs=model.inputs,
                        partition_by=model.partition_by, audit_table=cfg.lakehouse.audit_table)  # fmt: skip
        upstream: list[str] = []
        for item in model.inputs:
            upstream += all_silver if item in CONTROL_INPUTS else [f"{silver_group}.{item}"]
        ups = tuple(dict.fromkeys(upstream))
        served = tuple(u.rsplit(".", 1)[-1] for u in ups)
        specs.append(SparkTask(group=group, task_id=name, layer="gold", table=name, step="gold", spec=spec,
                               upstream=ups, trigger_rule=LAYER_TRIGGER, tables=served))  # fmt: skip
    return specs


def pipeline_specs(cfg: PipelineConfig) -> list[TaskSpec]:
    """All task specs: bronze groups in configured priority order, then silver, then gold."""
    tables = cfg.ordered_tables()
    bronze = [
        replace(spec, priority_weight=len(tables) - rank)
        for rank, table in enumerate(tables)
        for spec in bronze_specs(cfg, table)
    ]
    return with_storage(cfg, [*bronze, *silver_specs(cfg), *gold_specs(cfg)])
