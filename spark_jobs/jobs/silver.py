"""silver: bronze ``bz_<table>`` -> silver ``<table>`` (contract, cleaning, expectations, PII, MERGE).

Order: standardise -> deduplicate -> evaluate expectations on the clean values -> record the DQ
results -> stop if an ``expect_or_fail`` rule broke (silver and the quarantine untouched) -> protect
PII -> write the quarantine and MERGE the valid rows by primary key: two commits to two tables, side
by side. Each is idempotent, so when one fails the rerun converges (a key can sit in both silver
and the quarantine until then).

Full tables: the whole bronze table, silver becomes exactly its valid rows. Incremental tables:
the keys of the run's bronze slice, each at its newest bronze version; keys now deleted,
quarantined or dropped leave silver, others are upserted; untouched keys stay as they are. An
empty slice (nothing changed in the window) settles no key: the run writes its DQ results only
(``load_mode = empty``).

A full table whose inputs have not changed since silver's last completed build (bronze's version,
the spec, the PII key, the parents of its foreign-key rules, the silver code: the mark on silver's
commit, ``storage/commit_marks.py``) is not rebuilt: one commit re-stamps that build's DQ results
for this run. ``params.mode=full`` always rebuilds.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
import logging
import sys
from dataclasses import dataclass
from functools import reduce

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from lakehouse_contract import naming
from lakehouse_contract.results import LayerOutcome
from lakehouse_contract.serial import to_data
from lakehouse_contract.specs import SilverSpec
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import MissingStepResultError, SecretNotFoundError
from spark_jobs.runtime.faults import with_fault
from spark_jobs.runtime.layer_step import run_layer_step
from spark_jobs.runtime.parallel import run_all
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import start_job
from spark_jobs.storage import commit_marks
from spark_jobs.storage.delta_io import (
    create_if_missing,
    evolve_to_contract,
    merge_by_key,
    merge_changes,
    replace_slice,
    sql_literal,
)
from spark_jobs.storage.results import read_result
from spark_jobs.storage.secrets import resolve_key
from spark_jobs.storage.tables import (
    TableRef,
    bronze_table,
    dq_results_table,
    history_table,
    ident,
    quarantine_table,
    silver_table,
)
from spark_jobs.transforms import dq, history, pii, schema
from spark_jobs.transforms import silver as silver_transforms
from spark_jobs.transforms.dq import DqCounts, check_fail_rules, count_failures, split, with_outcome, with_rule_flags
from spark_jobs.transforms.incremental import DELETED, latest_changes, latest_versions
from spark_jobs.transforms.silver import dedupe_latest, protect_pii, standardize, to_contract

DQ_COLUMNS = (
    "dag_id string, run_id string, logical_date date, table_name string, rule string, action string, "
    "failed_rows bigint, total_rows bigint, dq_score double, bronze_batch_id string, recorded_at timestamp"
)


def _parents(spark: SparkSession, ctx: RunContext, spec: SilverSpec) -> dict[str, DataFrame]:
    parents = {}
    for rule in spec.rules:
        if rule.fk_column:
            ref = silver_table(ctx.tables, ctx.silver_schema, str(rule.fk_parent))
            if not ref.exists():
                raise MissingStepResultError(f"parent silver table {ref.schema}.{ref.name} does not exist yet")
            parents[rule.name] = ref.read(spark)
    return parents


def _dq_rows(ctx: RunContext, spec: SilverSpec, counts: DqCounts, batch: str, duplicates: int | None) -> list[tuple]:
    now = dt.datetime.now(dt.UTC)
    base = (ctx.dag_id, ctx.run_id, ctx.logical_date, spec.table)
    rows: list[tuple[object, ...]] = [
        (*base, r.name, r.action, counts.per_rule[r.name], counts.total, counts.score, batch, now) for r in spec.rules
    ]
    rows.append((*base, "_table", "summary", counts.failed_any, counts.total, counts.score, batch, now))
    if duplicates is not None:  # older versions of a key in one batch: resolved, counted here
        rows.append((*base, "_duplicate_keys", "deduplicate", duplicates, counts.total + duplicates, counts.score,
                     batch, now))  # fmt: skip
    return rows


def _write_dq(spark: SparkSession, ctx: RunContext, spec: SilverSpec, rows: list[tuple]) -> None:
    """This run's DQ results of the table (``DQ_COLUMNS`` rows), replacing any earlier attempt's."""
    frame = spark.createDataFrame(rows, DQ_COLUMNS)
    target = dq_results_table(ctx.tables, ctx.silver_schema)
    # shared by the parallel silver tasks: one partition per table keeps their writes apart
    replace_slice(target, frame, {"run_id": ctx.run_id, "table_name": spec.table}, partition_by=("table_name",))


def _quarantine_frame(rows: DataFrame, spec: SilverSpec) -> DataFrame:
    return rows.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.quarantine_contract(spec).fields])


@dataclass(frozen=True)
class BronzeInput:
    live: DataFrame  # rows to validate and load
    affected: DataFrame | None  # keys this run settles (incremental); None: a full pass over bronze
    rows_read: int
    batch: str  # the bronze batch the quarantine slice is keyed by (full) / this run (incremental)
    cached: DataFrame | None = None


def _bronze_input(spark: SparkSession, ctx: RunContext, spec: SilverSpec) -> BronzeInput | None:
    """Full tables: all of bronze. Incremental tables: for each key of this date's slice (an hourly
    table: the hourly slices of the day its interval starts on), its newest
    version in all of bronze (tombstones win), so the result does not depend on the load order.
    CDC tables: for each key of this date's slice, its last change in log order; a re-snapshot
    (mode=full) makes silver exactly the live keys of bronze (keys deleted while the log was lost
    leave). None for an incremental table whose slice holds no row (``_empty_window``)."""
    bronze_ref = bronze_table(ctx.tables, ctx.bronze_schema, spec.table, ctx.schemas.bronze_prefix)
    if not bronze_ref.exists():
        raise MissingStepResultError(f"bronze table {bronze_ref.schema}.{bronze_ref.name} does not exist")
    bronze = bronze_ref.read(spark)
    if spec.load_mode == "full":  # one pass for the row count and the batch id
        stats = bronze.agg(F.count(F.lit(1)).alias("n"), F.max("_batch_id").alias("batch")).first()
        rows, batch = (int(stats["n"]), stats["batch"]) if stats else (0, None)
        return BronzeInput(bronze, None, rows, batch or ctx.run_id)
    if spec.load_mode == "cdc" and ctx.mode == "full":  # a re-snapshot: silver becomes what bronze holds
        live = latest_changes(bronze, spec.primary_key, None).where(F.col("_record_status") != DELETED)
        return BronzeInput(live, None, bronze.count(), ctx.run_id)
    rows_read = bronze.where(F.col("_logical_date") == F.lit(ctx.slice_date)).count()
    if rows_read == 0 and spec.load_mode == "incremental":
        return None
    if spec.load_mode == "cdc":  # change rows: the log's order decides
        current = latest_changes(bronze, spec.primary_key, ctx.slice_date).persist()
    else:
        # silver's first load: when bronze holds this slice only (its count: Delta's metadata), no
        # key has a version elsewhere to look for
        first = not silver_table(ctx.tables, ctx.silver_schema, spec.table).exists() and bronze.count() == rows_read
        current = latest_versions(bronze, spec.primary_key, ctx.slice_date, spec.watermark_column,
                                  only_slice=first).persist()  # fmt: skip
    live = current.where(F.col("_record_status") != DELETED)
    return BronzeInput(live, current.select(*spec.primary_key), rows_read, ctx.run_id, current)


def _write_quarantine(spark: SparkSession, ctx: RunContext, spec: SilverSpec, rows: DataFrame,
                      affected: DataFrame | None, batch: str, keyless: int) -> None:  # fmt: skip
    """Full: replace this batch's slice. Incremental: per key, the quarantine holds the key's
    current version when that is quarantined (keys of the slice that are now valid or deleted leave);
    ``keyless``: how many of ``rows`` have a NULL in the key."""
    target = quarantine_table(ctx.tables, ctx.silver_schema, spec.table)
    frame = _quarantine_frame(rows, spec)
    # created from the contract's DDL, not from the frame: a string cast sent by a Spark Connect
    # client makes Delta record "string collate UTF8_BINARY", which kernel readers refuse
    new = create_if_missing(spark, target, schema.quarantine_contract(spec))
    if affected is None:
        replace_slice(target, frame, {"_batch_id": batch})
        return
    null_key = reduce(lambda a, b: a | b, [F.col(k).isNull() for k in spec.primary_key])
    keyed, keys = frame.where(~null_key), affected.where(~null_key)
    gone = keys.join(keyed.select(*spec.primary_key), list(spec.primary_key), "left_anti")
    content = tuple(c for c in frame.columns if c not in ("_batch_id", "_logical_date"))
    merge_changes(spark, target, keyed, gone, spec.primary_key, compare=content, new=new)
    _replace_keyless(spark, ctx, spec, target, frame.where(null_key), keyless)


def _replace_keyless(spark: SparkSession, ctx: RunContext, spec: SilverSpec, target: TableRef, rows: DataFrame,
                     count: int) -> None:  # fmt: skip
    """Rows of this slice with a NULL key (possible in file sources) are no key's version: the
    quarantine keeps this slice's set of them, replaced on a rerun (a second commit, only when the
    slice has or had such rows; ``count``: how many it has now, from the DQ aggregation)."""
    null_key = " OR ".join(f"{ident(k)} IS NULL" for k in spec.primary_key)
    predicate = f"({null_key}) AND _logical_date = DATE{sql_literal(str(ctx.slice_date))}"
    if count == 0 and target.read(spark).where(predicate).isEmpty():
        return
    target.save(rows.write.mode("overwrite").option("replaceWhere", predicate))


def _owned(ctx: RunContext, spec: SilverSpec) -> list[tuple[TableRef, StructType]]:
    """The tables a silver run writes, each with its contract: silver, the quarantine (and history)."""
    tables = [
        (silver_table(ctx.tables, ctx.silver_schema, spec.table), schema.contract(spec)),
        (quarantine_table(ctx.tables, ctx.silver_schema, spec.table), schema.quarantine_contract(spec)),
    ]
    if spec.history == "scd2":
        tables.append((history_table(ctx.tables, ctx.silver_schema, spec.table), schema.history_contract(spec)))
    return tables


def _evolve(spark: SparkSession, ctx: RunContext, spec: SilverSpec) -> None:
    """The silver, quarantine (and history) tables follow a contract that gained columns; a contract that lost
    or retyped one is refused before anything of this run is written."""
    for ref, wanted in _owned(ctx, spec):
        added = evolve_to_contract(spark, ref, wanted)
        if added:
            logging.getLogger("spark_jobs").warning(
                "%s.%s: added contract columns %s (existing rows hold NULL)", ref.schema, ref.name, added
            )


def _write_history(spark: SparkSession, ctx: RunContext, spec: SilverSpec, affected: DataFrame | None,
                   key: bytes, parents: dict[str, DataFrame]) -> dict[str, int]:  # fmt: skip
    """``silver.history: scd2``: the history of every key of this run (all keys: ``affected`` None)
    rebuilt from all of bronze's versions of it, in one MERGE by (key, ``_valid_from``)."""
    keys = spec.primary_key
    bronze = bronze_table(ctx.tables, ctx.bronze_schema, spec.table, ctx.schemas.bronze_prefix).read(spark)
    if affected is not None:
        bronze = bronze.join(affected.distinct(), list(keys), "left_semi")
    versions = history.versioned(bronze, spec)
    live, gone = versions.where(~F.col(history.GONE)), versions.where(F.col(history.GONE))
    flagged = with_rule_flags(standardize(live, spec, history.CARRY), spec.rules, parents)
    keep, _ = split(protect_pii(with_outcome(flagged, spec.rules), spec, key))
    rows = to_contract(keep, spec, history.CARRY).unionByName(
        gone.select(*keys, *history.CARRY), allowMissingColumns=True
    )
    rows = rows.localCheckpoint()  # the transforms' plan is deep: cut it before the windows (Spark Connect's limit)
    target = history_table(ctx.tables, ctx.silver_schema, spec.table)
    new = create_if_missing(spark, target, schema.history_contract(spec))
    existing = target.read(spark)
    if affected is not None:
        existing = existing.join(affected.distinct(), list(keys), "left_semi")
    existing = existing.localCheckpoint()  # read before the MERGE that rewrites it
    kept = history.kept_history(existing, versions, keys)
    contract = schema.history_contract(spec)
    built = history.scd2(rows.unionByName(kept, allowMissingColumns=True), keys)
    built = built.select(*[F.col(f.name).cast(f.dataType) for f in contract.fields]).localCheckpoint()
    on = (*keys, naming.VALID_FROM)
    stale = existing.select(*on).join(built.select(*on), list(on), "left_anti")
    compare = ("_row_hash", naming.VALID_TO, naming.IS_CURRENT)
    return merge_changes(spark, target, built, stale, on, compare=compare, new=new)


def _inputs_mark(spark: SparkSession, ctx: RunContext, spec: SilverSpec, key: bytes) -> dict[str, str] | None:
    """A full table's silver (with its quarantine and DQ results) is a function of bronze's rows,
    the table's spec, the PII key, the parent tables its foreign-key rules read and the silver
    code: their versions and digests, as the mark its build commits with. None where a run always
    rebuilds: incremental and CDC tables (their slice is the change), row history, or an input
    with no version to compare."""
    if spec.load_mode != "full" or spec.history != "none":
        return None
    tables = {"bronze": bronze_table(ctx.tables, ctx.bronze_schema, spec.table, ctx.schemas.bronze_prefix)}
    tables.update({f"parent:{r.fk_parent}": silver_table(ctx.tables, ctx.silver_schema, str(r.fk_parent))
                   for r in spec.rules if r.fk_parent})  # fmt: skip
    return commit_marks.inputs_mark(
        spark, tables, ctx.run_id, code=commit_marks.code_digest(sys.modules[__name__], silver_transforms, dq, pii,
                                                                 schema),
        key=commit_marks.key_digest(key),
        spec=commit_marks.digest({"spec": json.dumps(_what(spec), sort_keys=True, default=str)}),
    )  # fmt: skip


def _what(spec: SilverSpec) -> object:
    """The spec without where the lakehouse lives (a copy or a restore elsewhere is the same build)."""
    data = to_data(spec)
    data.pop("location", None)
    return data


def _built_by(spark: SparkSession, ctx: RunContext, spec: SilverSpec, mark: dict[str, str] | None) -> str | None:
    """The run whose completed build of silver used exactly these inputs, else None: silver's newest
    data commit carries the same inputs digest and that run's silver step ended SUCCESS (so its
    quarantine and DQ results landed too)."""
    built_by = commit_marks.built_by(spark, silver_table(ctx.tables, ctx.silver_schema, spec.table), mark)
    if built_by is None:
        return None
    result = read_result(dataclasses.replace(ctx, run_id=built_by), "silver")
    return built_by if result is not None and result.status == "SUCCESS" else None


def _unchanged(spark: SparkSession, ctx: RunContext, spec: SilverSpec, built_by: str) -> LayerOutcome | None:
    """Nothing silver reads changed since ``built_by`` built it: silver and the quarantine stay as
    they are, and this run's DQ results are that build's (re-stamped with this run), so per-run
    readers (gold's ``dq_results``, the monitor) see every table. None when those rows are gone."""
    results = dq_results_table(ctx.tables, ctx.silver_schema).read(spark)
    built = results.where((F.col("run_id") == built_by) & (F.col("table_name") == spec.table)).collect()
    summary = next((r for r in built if r["rule"] == "_table"), None)
    if summary is None:
        return None
    now = dt.datetime.now(dt.UTC)
    _write_dq(spark, ctx, spec, [(ctx.dag_id, ctx.run_id, ctx.logical_date, r["table_name"], r["rule"], r["action"],
                                  r["failed_rows"], r["total_rows"], r["dq_score"], r["bronze_batch_id"], now)
                                 for r in built])  # fmt: skip
    silver = silver_table(ctx.tables, ctx.silver_schema, spec.table)
    logging.getLogger("spark_jobs").info(
        "%s: bronze, rules, key and parents unchanged since run %s: silver kept as it built it", spec.table, built_by
    )
    return LayerOutcome(rows_read=0, rows_written=0, table_rows=silver.read(spark).count(), target=silver.path,
                        rows_quarantined=0, rows_dropped=0, dq_score=summary["dq_score"], load_mode="unchanged",
                        unchanged_since=built_by)  # fmt: skip


def _empty_window(spark: SparkSession, ctx: RunContext, spec: SilverSpec) -> LayerOutcome:
    """An incremental table whose bronze slice for this date holds no row (no change and no delete
    in the window: a quiet day; an hourly table's day with no row in any hour) settles no key:
    silver, its quarantine and history stay as they are, with no Spark pipeline over bronze and the
    parents. The run's DQ results (zero rows) are written as for any run, missing tables are
    created (readers find them from the first run on), and NULL-key rows an earlier attempt of
    this slice quarantined leave, as a full pass would do."""
    none = DqCounts(total=0, failed_any=0, per_rule={r.name: 0 for r in spec.rules})
    _write_dq(spark, ctx, spec, _dq_rows(ctx, spec, none, ctx.run_id, None))
    owned = _owned(ctx, spec)
    (target, _), (quarantine, quarantine_contract) = owned[:2]
    for ref, contract in owned:
        create_if_missing(spark, ref, contract, partition_by=spec.partition_by if ref == target else ())
    _replace_keyless(spark, ctx, spec, quarantine, spark.createDataFrame([], quarantine_contract), 0)
    logging.getLogger("spark_jobs").info("%s: nothing in bronze's slice of %s: silver unchanged", spec.table,
                                         ctx.slice_date)  # fmt: skip
    return LayerOutcome(rows_read=0, rows_written=0, table_rows=target.read(spark).count(), target=target.path,
                        rows_quarantined=0, rows_dropped=0, dq_score=None, load_mode="empty")  # fmt: skip


def transform(spark: SparkSession, ctx: RunContext, spec: SilverSpec, key: bytes) -> LayerOutcome:
    _evolve(spark, ctx, spec)
    mark = _inputs_mark(spark, ctx, spec, key)
    built_by = _built_by(spark, ctx, spec, mark) if ctx.mode != "full" else None
    kept = _unchanged(spark, ctx, spec, built_by) if built_by else None
    if kept is not None:
        return kept
    source = _bronze_input(spark, ctx, spec)
    if source is None:
        return _empty_window(spark, ctx, spec)
    live, affected, rows_read, batch = source.live, source.affected, source.rows_read, source.batch
    parents = _parents(spark, ctx, spec)
    flagged = with_rule_flags(dedupe_latest(standardize(live, spec), spec.primary_key), spec.rules, parents).persist()
    try:
        counts = count_failures(flagged, spec.rules, spec.primary_key)
        duplicates = rows_read - counts.total if affected is None else None
        # first: every silver change has its DQ results
        _write_dq(spark, ctx, spec, _dq_rows(ctx, spec, counts, batch, duplicates))
        check_fail_rules(counts, spec.rules)
        keep, quarantine = split(protect_pii(with_outcome(flagged, spec.rules), spec, key))
        valid = with_fault(to_contract(keep, spec), "silver", spec.table)  # drills only (runtime/faults.py)
        target = silver_table(ctx.tables, ctx.silver_schema, spec.table)
        new = create_if_missing(spark, target, schema.contract(spec), partition_by=spec.partition_by)

        def merge_silver() -> dict[str, int]:
            if affected is None:
                return merge_by_key(spark, target, valid, spec.primary_key, delete_missing=True, new=new)
            # keys of the slice now deleted, quarantined or dropped leave silver
            removed = affected.join(valid.select(*spec.primary_key), list(spec.primary_key), "left_anti")
            return merge_changes(spark, target, valid, removed, spec.primary_key, new=new)

        # two commits to two tables, independent of each other: side by side (runtime/parallel.py);
        # a full table's carry the mark of its inputs (the next run's _built_by compares it)
        with commit_marks.marked_commits(spark, mark) if mark else contextlib.nullcontext():
            _, merged = run_all([
                lambda: _write_quarantine(spark, ctx, spec, quarantine, affected, batch, counts.quarantined_keyless),
                merge_silver,
            ])  # fmt: skip
        if spec.history == "scd2":
            _write_history(spark, ctx, spec, affected, key, parents)
    finally:
        flagged.unpersist()
        if source.cached is not None:
            source.cached.unpersist()
    return LayerOutcome(
        rows_read=rows_read,
        rows_deduplicated=duplicates,
        rows_written=counts.kept,
        rows_quarantined=counts.quarantined,
        rows_dropped=counts.dropped,
        dq_score=counts.score,
        table_rows=counts.kept if affected is None else target.read(spark).count(),
        load_mode=spec.load_mode,
        rows_inserted=merged.get("num_inserted_rows"),
        rows_updated=merged.get("num_updated_rows"),
        rows_deleted=merged.get("num_deleted_rows"),
        target=target.path,
    )


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, SilverSpec)

    def body() -> LayerOutcome:
        needs_key = spec.pii or spec.hashed_id
        if needs_key and not spec.pii_key_secret:
            raise SecretNotFoundError(f"silver {spec.table} hashes PII but its spec names no PII key secret")
        key = resolve_key(spec.pii_key_secret) if needs_key and spec.pii_key_secret else b""
        return transform(get_spark(f"silver-{ctx.table}"), ctx, spec, key)

    return run_layer_step(
        ctx, layer="silver", body=body, log=log, audit_name=spec.audit_table,
        source=str(naming.bronze(ctx.schemas, ctx.table)), target=str(naming.silver(ctx.schemas, ctx.table)),
    )  # fmt: skip
