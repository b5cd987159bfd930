"""A file source: list its files, check each against the contract, read them with the contract's types.

* listing: Spark's ``binaryFile`` source over the location (path, size, modification time; the
  content is never read), the same on a local folder, ``s3a://`` and Databricks volumes;
* probing a file's columns before anything is read or written: Parquet footers and CSV headers with
  pyarrow (a footer is a few KB), JSON-lines keys with one Spark pass over the files' text;
* reading: the contract's columns cast to their types, a value that does not fit kept as text in
  ``_rescued_data`` (``{"column": "value"}``, as Databricks Auto Loader does) and NULL in its
  column, extra columns kept (the bronze schema evolves), ``_source_file`` and
  ``_file_modification_time`` from Spark's file metadata.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Collection
from dataclasses import dataclass
from functools import reduce
from typing import Any

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType, TimestampType

from lakehouse_contract.naming import FILE_MODIFICATION_TIME, RESCUED_DATA, SOURCE_FILE
from lakehouse_contract.specs import FileSource
from lakehouse_contract.storage import (
    ACCESS_KEY_ENV,
    ENDPOINT_ENV,
    REGION_ENV,
    SECRET_KEY_ENV,
    ObjectUri,
    is_object_store,
)
from spark_jobs.runtime.errors import JobError
from spark_jobs.transforms.file_plan import ListedFile, utc_naive
from spark_jobs.transforms.schema import spark_type


class SourceLocationError(JobError):
    """The file source's location cannot be listed (missing folder or prefix, no access)."""


class BadFileError(JobError):
    """A file cannot be loaded against the contract (unreadable, a contract column missing or retyped)."""


def normalise(path: str) -> str:
    """One spelling per file: ``/abs/path`` (local) or ``s3a://bucket/key``."""
    return re.sub(r"^file:/+", "/", path)


def _normalised(col: Column) -> Column:
    return F.url_decode(F.regexp_replace(col, r"^file:/+", "/"))


def list_files(spark: SparkSession, source: FileSource) -> list[ListedFile]:
    """Every file under the location (any depth) whose name matches the glob."""
    try:
        rows = (
            spark.read.format("binaryFile")
            .option("pathGlobFilter", source.glob)
            .option("recursiveFileLookup", "true")
            .load(source.location)
            .select("path", "length", "modificationTime")
            .collect()
        )
    except Exception as exc:
        if "PATH_NOT_FOUND" in str(exc) or "does not exist" in str(exc):
            raise SourceLocationError(f"file source {source.location} does not exist (no folder or prefix)") from None
        raise
    return [ListedFile(normalise(r["path"]), int(r["length"]), utc_naive(r["modificationTime"])) for r in rows]


# -- probing ---------------------------------------------------------------------------------------


def _arrow_fs(path: str) -> tuple[Any, str]:
    from pyarrow import fs

    if not is_object_store(path):
        return fs.LocalFileSystem(), path
    uri = ObjectUri.parse(path)
    endpoint = os.environ.get(ENDPOINT_ENV) or None
    s3 = fs.S3FileSystem(
        access_key=os.environ.get(ACCESS_KEY_ENV),
        secret_key=os.environ.get(SECRET_KEY_ENV),
        endpoint_override=endpoint,
        scheme="http" if endpoint and endpoint.startswith("http://") else "https",
        region=os.environ.get(REGION_ENV) or "us-east-1",
    )
    return s3, f"{uri.bucket}/{uri.key}"


@dataclass(frozen=True)
class Probe:
    """What a file holds: its columns (name -> contract-comparable type, None: text), or why it is bad."""

    path: str
    columns: dict[str, str | None]
    error: str | None = None
    rows: int | None = None  # Parquet: the footer's row count (text formats: unknown until read)


def _arrow_kind(arrow_type: Any) -> str:
    import pyarrow.types as pat

    checks = (
        (pat.is_boolean, "boolean"), (pat.is_integer, "integer"), (pat.is_floating, "float"),
        (pat.is_decimal, "decimal"), (pat.is_timestamp, "timestamp"), (pat.is_date, "date"),
        (lambda t: pat.is_string(t) or pat.is_large_string(t), "string"),
    )  # fmt: skip
    return next((kind for check, kind in checks if check(arrow_type)), str(arrow_type))


def _probe_parquet(path: str) -> Probe:
    import pyarrow.parquet as pq

    fs, inner = _arrow_fs(path)
    try:
        with fs.open_input_file(inner) as handle:
            footer = pq.ParquetFile(handle)
            schema, rows = footer.schema_arrow, footer.metadata.num_rows
    except Exception as exc:  # a truncated or non-Parquet file
        return Probe(path, {}, f"not a readable Parquet file ({type(exc).__name__}: {str(exc)[:200]})")
    return Probe(path, {f.name: _arrow_kind(f.type) for f in schema}, rows=rows)


def _probe_csv(path: str, options: dict[str, str]) -> Probe:
    fs, inner = _arrow_fs(path)
    try:
        with fs.open_input_stream(inner) as handle:
            head = handle.read(65536).decode(options.get("encoding", "utf-8"))
    except UnicodeDecodeError:
        return Probe(path, {}, "not text in the configured encoding")
    except Exception as exc:
        return Probe(path, {}, f"unreadable ({type(exc).__name__})")
    first = head.splitlines()[0] if head.strip() else ""
    if not first:
        return Probe(path, {}, "empty file (no header line)")
    sep = options.get("sep", options.get("delimiter", ","))
    return Probe(path, {c.strip().strip('"'): None for c in first.split(sep)})


def _probe_json(spark: SparkSession, paths: list[str]) -> list[Probe]:
    """One pass over the files' lines: each file's keys, and whether a line is not a JSON object."""
    lines = spark.read.text(paths).select(_normalised(F.col("_metadata.file_path")).alias("path"), "value")
    lines = lines.where(F.trim("value") != "")
    keys = lines.select("path", F.json_object_keys("value").alias("keys"))
    rows = (
        keys.groupBy("path")
        .agg(
            F.array_distinct(F.flatten(F.collect_list(F.coalesce("keys", F.array().cast("array<string>"))))).alias("k"),
            F.sum(F.when(F.col("keys").isNull(), 1).otherwise(0)).alias("bad"),
        )
        .collect()
    )
    seen = {r["path"]: r for r in rows}
    probes = []
    for path in paths:
        row = seen.get(path)
        if row is None:
            probes.append(Probe(path, {}, "empty file (no JSON lines)"))
        elif row["bad"]:
            probes.append(Probe(path, {}, f"{row['bad']} line(s) are not JSON objects"))
        else:
            probes.append(Probe(path, {k: None for k in row["k"]}))
    return probes


def probe_files(spark: SparkSession, source: FileSource, paths: list[str]) -> list[Probe]:
    if not paths:
        return []
    if source.format == "json":
        return _probe_json(spark, paths)
    if source.format == "csv":
        return [_probe_csv(p, source.options) for p in paths]
    return [_probe_parquet(p) for p in paths]


FITS = {  # contract type -> the Parquet column kinds that cast to it without loss of meaning
    "string": {"string"},
    "int": {"integer"},
    "bigint": {"integer"},
    "smallint": {"integer"},
    "double": {"float", "integer", "decimal"},
    "float": {"float", "integer", "decimal"},
    "boolean": {"boolean"},
    "date": {"date", "timestamp"},
    "timestamp": {"timestamp", "date"},
}


def contract_problems(probe: Probe, contract: dict[str, str]) -> str | None:
    """Why a probed file cannot be loaded against the contract (None: it can)."""
    if probe.error:
        return probe.error
    missing = [c for c in contract if c not in probe.columns]
    if missing:
        return f"missing contract column(s) {missing}"
    retyped = []
    for col, typ in contract.items():
        kind = probe.columns[col]
        allowed = FITS.get(typ, {"decimal", "integer"})  # decimal(p,s)
        if kind is not None and kind not in allowed:
            retyped.append(f"{col}: {kind}, contract {typ}")
    return f"retyped contract column(s) {retyped}" if retyped else None


def extra_columns(probes: list[Probe], contract: dict[str, str]) -> list[str]:
    """Columns some file has that the contract lacks (in first-seen order)."""
    extras: dict[str, None] = {}
    for probe in probes:
        extras.update({c: None for c in probe.columns if c not in contract and not probe.error})
    return list(extras)


# -- reading ---------------------------------------------------------------------------------------


def _rescued(raw: dict[str, Column], typed: dict[str, Column]) -> Column:
    """``{"col": "text"}`` of the values present in the file that did not fit their type (NULL: none).
    ``raw``: the checked columns' values as text. The JSON is built only for rows where one failed."""
    failed = {c: raw[c].isNotNull() & typed[c].isNull() for c in raw}
    if not failed:
        return F.lit(None).cast("string")
    entries = [F.when(failed[c], F.struct(F.lit(c).alias("k"), raw[c].alias("v"))) for c in raw]
    json = F.to_json(F.map_from_entries(F.filter(F.array(*entries), lambda e: e.isNotNull())))
    return F.when(reduce(lambda a, b: a | b, failed.values()), json)


LOSSLESS = {  # contract type -> Parquet column kinds whose values always convert (no rescue needed)
    "string": {"string"}, "bigint": {"integer"}, "double": {"float", "integer"}, "boolean": {"boolean"},
    "date": {"date"}, "timestamp": {"timestamp"},
}  # fmt: skip


def lossless_columns(probes: list[Probe], contract: dict[str, str]) -> set[str]:
    """Parquet: the contract columns every file holds in a type that converts without failing."""
    return {
        c for c, t in contract.items()
        if probes and all(p.columns.get(c) in LOSSLESS.get(t, set()) for p in probes)
    }  # fmt: skip


def _text_frame(spark: SparkSession, source: FileSource, paths: list[str], columns: list[str],
                headers: dict[str, list[str]]) -> DataFrame:  # fmt: skip
    """Text formats, every column as text. CSV is read per distinct header with that header's own
    column order (a CSV reader given a schema maps columns by position, not by name), then aligned
    by name; JSON lines are read by name."""
    reader = spark.read.format(source.format).options(**source.options)
    if source.format == "json":
        return reader.schema(StructType([StructField(c, StringType()) for c in columns])).load(paths)
    groups: dict[tuple[str, ...], list[str]] = {}
    for path in paths:
        groups.setdefault(tuple(headers[path]), []).append(path)
    frames = []
    for header, group in groups.items():
        schema = StructType([StructField(c, StringType()) for c in header])
        frame = reader.schema(schema).option("enforceSchema", "false").load(group)
        frames.append(frame.select(
            *[F.col(c) if c in header else F.lit(None).cast("string").alias(c) for c in columns],
            F.col("_metadata.file_path").alias("__path"), F.col("_metadata.file_modification_time").alias("__mtime"),
        ))  # fmt: skip
    return reduce(DataFrame.unionByName, frames)


def read_files(
    spark: SparkSession,
    source: FileSource,
    probes: list[Probe],
    contract: dict[str, str],
    extras: list[str],
    lossless: Collection[str] = (),
) -> DataFrame:
    """The probed files' rows: contract columns typed (misfits rescued; ``lossless`` ones need no
    check), extra columns, file metadata."""
    paths = [p.path for p in probes]
    if source.format == "parquet":
        frame = spark.read.format("parquet").options(**source.options).option("mergeSchema", "true").load(paths)
    else:  # text formats: every column read as text, typed below (no silent NULL from the reader)
        headers = {p.path: list(p.columns) for p in probes}
        frame = _text_frame(spark, source, paths, [*contract, *extras], headers)
    if "__path" not in frame.columns:
        frame = frame.select("*", F.col("_metadata.file_path").alias("__path"),
                             F.col("_metadata.file_modification_time").alias("__mtime"))  # fmt: skip
    text_input = source.format != "parquet"
    typed = {
        c: F.col(c) if t == "string" else (F.trim(F.col(c)) if text_input else F.col(c)).try_cast(t)
        for c, t in contract.items()
    }
    # what the file held for a typed column (blank text counts as absent, as NULL)
    checked = [c for c, t in contract.items() if t != "string" and c not in lossless]
    present = {c: F.nullif(F.trim(F.col(c).cast("string")), F.lit("")) for c in checked}
    return frame.select(
        # cast by type name: a type object sent through Spark Connect makes strings carry an explicit
        # collation (``string collate UTF8_BINARY``) into the Delta schema, which other readers refuse
        *[typed[c].cast(t).alias(c) for c, t in contract.items()],
        *[F.col(c) for c in extras],
        _rescued(present, typed).alias(RESCUED_DATA),
        _normalised(F.col("__path")).alias(SOURCE_FILE),
        F.col("__mtime").alias(FILE_MODIFICATION_TIME),
    )


# -- the read plan: what extract_files hands write_bronze -------------------------------------------

PLAN_SCHEMA = StructType([StructField("path", StringType()), StructField("columns", StringType()),
                          StructField("rows", LongType())])  # fmt: skip


def plan_frame(spark: SparkSession, probes: list[Probe]) -> DataFrame:
    """The files this run loads, with what their probe found (one row per file), for the run's
    landing folder: write_bronze reads the files themselves from it (one pass, no copy)."""
    rows = [(p.path, json.dumps(p.columns), p.rows) for p in probes]
    return spark.createDataFrame(rows, PLAN_SCHEMA)


def load_plan(spark: SparkSession, path: str) -> list[Probe]:
    return [
        Probe(r["path"], json.loads(r["columns"]), rows=r["rows"])
        for r in spark.read.schema(PLAN_SCHEMA).parquet(path).collect()
    ]


def empty_frame(contract: dict[str, str]) -> StructType:
    """The schema of a run that loads no file."""
    fields = [StructField(c, spark_type(t)) for c, t in contract.items()]
    fields += [StructField(RESCUED_DATA, StringType()), StructField(SOURCE_FILE, StringType()),
               StructField(FILE_MODIFICATION_TIME, TimestampType())]  # fmt: skip
    return StructType(fields)


def planned_rows(spark: SparkSession, source: FileSource, probes: list[Probe], contract: dict[str, str]) -> DataFrame:
    """The planned files' rows, read as bronze gets them (an empty frame when there are none)."""
    if not probes:
        return spark.createDataFrame([], empty_frame(contract))
    lossless = lossless_columns(probes, contract) if source.format == "parquet" else set()
    return read_files(spark, source, probes, contract, extra_columns(probes, contract), lossless)
