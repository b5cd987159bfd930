"""dr: disaster recovery of every table of a pipeline (bronze, silver, quarantine, gold, control).

* ``restore_point``: the Delta version of every table as of one moment (the newest commit of each
  table at or before it, so a commit landing while the versions are read is not half-included),
  written to ``<root>/_control/restore_points/<id>.json``.
* ``replicate``: copy the tables at a restore point to ``replica_root`` (another bucket or prefix):
  the log up to the point's version and the data files, only those not copied before (Delta data
  files are immutable: same name and size is the same file); then **verify** every table read back
  from the copy at that version against the primary (row count and an order-independent content
  checksum); the point's document goes along, so the replica is self-describing.
* ``restore``: ``RESTORE TABLE ... TO VERSION AS OF`` every table of the point, watermarks
  included, so the next run reloads what the restored tables no longer hold. Every table is checked
  first: if any needs files VACUUM already deleted, nothing is changed and the error names the
  oldest restore point that is still reachable.
* ``rebuild``: the primary lost (a deleted bucket): copy the replica back, bring each table to the
  point's version, verify against the replica.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import re
import time
from dataclasses import asdict, dataclass
from urllib.parse import unquote

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F

from lakehouse_contract.layout import restore_epoch_path, restore_point_path, restore_points_dir
from lakehouse_contract.naming import TableName
from lakehouse_contract.specs import DrSpec
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import JobError
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import Metrics, run_step, start_job
from spark_jobs.storage.files import copy_file, ensure_root, files_for
from spark_jobs.storage.tables import TableLocation, TableRef, table_ref

_LOG_FILE = re.compile(r"^(?:\d{20}\.)?(\d{20})\.(?:json|crc|checkpoint\b.*|compacted\.json)$")


class RestorePointError(JobError):
    """A restore point is missing or cannot be used."""


class RestoreHorizonError(RestorePointError):
    """The restore point needs files a VACUUM has deleted."""


class ReplicaMismatchError(JobError):
    """A replicated table read back from the copy differs from the primary."""


@dataclass(frozen=True)
class RestorePoint:
    id: str
    taken_at: str  # ISO, UTC
    root: str
    versions: dict[str, int]  # schema.table -> Delta version

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=1, sort_keys=True)


def _one(frame: DataFrame) -> Row:
    row = frame.first()
    if row is None:
        raise JobError("expected one row, got none")
    return row


def _ref(root: str, name: str) -> TableRef:
    table = TableName.parse(name)
    return table_ref(TableLocation(root, None), table.schema, table.name)


def points(root: str) -> list[RestorePoint]:
    """The restore points recorded under a root, oldest first."""
    files = files_for(root)
    found = []
    for rel in files.listing(restore_points_dir(root)):
        text = files.read(f"{restore_points_dir(root)}/{rel}")
        if text is not None and rel.endswith(".json"):
            found.append(RestorePoint(**json.loads(text[0])))
    return sorted(found, key=lambda p: p.taken_at)


def load_point(root: str, point_id: str) -> RestorePoint:
    known = points(root)
    if not point_id:
        if not known:
            raise RestorePointError(f"no restore point under {root}: take one first (dr restore_point)")
        return known[-1]
    for point in known:
        if point.id == point_id:
            return point
    names = ", ".join(p.id for p in known) or "none"
    raise RestorePointError(f"no restore point {point_id!r} under {root} (recorded: {names})")


def take_point(spark: SparkSession, root: str, tables: tuple[str, ...]) -> RestorePoint:
    moment = _one(spark.sql("SELECT current_timestamp() AS t"))[0]  # one clock for all tables
    versions: dict[str, int] = {}
    for name in tables:
        ref = _ref(root, name)
        if not ref.exists():
            continue
        history = spark.sql(f"DESCRIBE HISTORY {ref.sql_name}").where(F.col("timestamp") <= F.lit(moment))
        newest = _one(history.agg(F.max("version")))[0]
        if newest is not None:
            versions[name] = int(newest)
    stamp = dt.datetime.now(dt.UTC)
    point = RestorePoint(f"rp-{stamp:%Y%m%dT%H%M%S}-{stamp.microsecond // 1000:03d}Z", stamp.isoformat(), root,
                         versions)  # fmt: skip
    files_for(root).write_text(restore_point_path(root, point.id), point.to_json())
    return point


def _wanted(rel: str, version: int) -> bool:
    """Whether a table's file belongs in a copy of the table at ``version``."""
    if not rel.startswith("_delta_log/"):
        return True  # data files, deletion vectors: immutable, a superset is harmless
    name = rel[len("_delta_log/") :]
    if name.startswith("_sidecars/"):
        return True
    match = _LOG_FILE.match(name)
    return match is not None and int(match.group(1)) <= version  # not _last_checkpoint, not later commits


def copy_table(src: str, dst: str, version: int) -> tuple[int, int, int]:
    """Copy what the table at ``version`` needs from ``src`` to ``dst``, skipping files already
    there: (files copied, files skipped, bytes copied)."""
    have = files_for(dst).listing(dst)
    copied = skipped = size = 0
    for rel, length in sorted(files_for(src).listing(src).items()):
        if not _wanted(rel, version):
            continue
        if have.get(rel) == length:
            skipped += 1
            continue
        copy_file(f"{src}/{rel}", f"{dst}/{rel}")
        copied, size = copied + 1, size + length
    return copied, skipped, size


def fingerprint(spark: SparkSession, path: str, version: int) -> tuple[int, int]:
    """(rows, content checksum) of a table at a version: the sum of every row's 64-bit hash of all
    its columns, independent of file layout and row order."""
    frame = spark.read.format("delta").option("versionAsOf", version).load(path)
    row = _one(frame.select(F.count(F.lit(1)), F.sum(F.xxhash64(*frame.columns).cast("decimal(38,0)"))))
    return int(row[0]), int(row[1] or 0)


def verify(spark: SparkSession, point: RestorePoint, copy_root: str) -> dict[str, tuple[int, int]]:
    """Every table of the point read back from ``copy_root`` equals the primary at the same version."""
    out: dict[str, tuple[int, int]] = {}
    for name, version in sorted(point.versions.items()):
        ours = fingerprint(spark, _ref(point.root, name).path, version)
        theirs = fingerprint(spark, _ref(copy_root, name).path, version)
        if ours != theirs:
            raise ReplicaMismatchError(
                f"{name} at version {version}: the copy under {copy_root} holds {theirs[0]} rows "
                f"(checksum {theirs[1]}), the primary {ours[0]} (checksum {ours[1]})"
            )
        out[name] = ours
    return out


def _latest(spark: SparkSession, ref: TableRef) -> int:
    return int(_one(spark.sql(f"DESCRIBE HISTORY {ref.sql_name} LIMIT 1"))["version"])


def reachable(spark: SparkSession, ref: TableRef, version: int) -> bool:
    """Whether the table can be read (and restored) at ``version``: its log still has it and every
    data file of that snapshot still exists (VACUUM deletes files no newer version needs)."""
    if not ref.exists():
        return False
    try:
        needed = spark.read.format("delta").option("versionAsOf", version).load(ref.path).inputFiles()
    except AnalysisException:
        return False  # the version is gone from the log (log retention)
    present = set(files_for(ref.path).listing(ref.path))
    base = unquote(ref.path.split("://", 1)[-1]).rstrip("/") + "/"
    return all(unquote(f.split("://", 1)[-1]).split(base, 1)[-1] in present for f in needed)


def _unreachable(spark: SparkSession, point: RestorePoint) -> list[str]:
    return [n for n, v in sorted(point.versions.items()) if not reachable(spark, _ref(point.root, n), v)]


def new_epoch(root: str, point: RestorePoint) -> None:
    """Mark that the tables under ``root`` went back in time: Delta's RESTORE does not roll back
    the transaction identifiers the watermark registry's guard uses (storage/watermarks.py)."""
    epoch = f"{point.id}@{dt.datetime.now(dt.UTC):%Y%m%dT%H%M%S%f}"
    files_for(root).write_text(restore_epoch_path(root), json.dumps({"epoch": epoch, "restore_point": point.id}))


def restore(spark: SparkSession, point: RestorePoint, log: logging.Logger) -> Metrics:
    blocked = _unreachable(spark, point)
    if blocked:
        oldest = next((p for p in points(point.root) if not _unreachable(spark, p)), None)
        hint = (
            f"the oldest reachable restore point is {oldest.id} (taken {oldest.taken_at})"
            if oldest
            else "no recorded restore point is reachable"
        )
        raise RestoreHorizonError(
            f"restore point {point.id} (taken {point.taken_at}) is behind the VACUUM horizon of "
            f"{len(blocked)} table(s) ({', '.join(blocked[:5])}{', ...' if len(blocked) > 5 else ''}): "
            f"their files at that version are deleted. Nothing was restored; {hint}"
        )
    restored = 0
    for name, version in sorted(point.versions.items()):
        ref = _ref(point.root, name)
        if _latest(spark, ref) != version:
            spark.sql(f"RESTORE TABLE {ref.sql_name} TO VERSION AS OF {version}").collect()
            restored += 1
            log.info("restored %s to version %s", name, version)
    new_epoch(point.root, point)
    return {"restore_point": point.id, "tables": len(point.versions), "tables_restored": restored}


def replicate(spark: SparkSession, point: RestorePoint, replica: str, log: logging.Logger) -> Metrics:
    start = time.monotonic()
    copied = skipped = size = 0
    for name, version in sorted(point.versions.items()):
        c, s, b = copy_table(_ref(point.root, name).path, _ref(replica, name).path, version)
        copied, skipped, size = copied + c, skipped + s, size + b
        log.info("replicated %s at version %s: %s files copied, %s already there", name, version, c, s)
    seconds = time.monotonic() - start
    files_for(replica).write_text(restore_point_path(replica, point.id), point.to_json())
    checked = verify(spark, point, replica)
    return {
        "restore_point": point.id, "replica_root": replica, "tables": len(point.versions), "files_copied": copied,
        "files_skipped": skipped, "bytes_copied": size, "copy_seconds": round(seconds, 2),
        "rows_verified": sum(rows for rows, _ in checked.values()),
    }  # fmt: skip


def rebuild(spark: SparkSession, point: RestorePoint, replica: str, primary: str, log: logging.Logger) -> Metrics:
    """Copy the tables of ``point`` (read from the replica) from ``replica`` back to ``primary``."""
    copied = 0
    for name, version in sorted(point.versions.items()):
        c, _, _ = copy_table(_ref(replica, name).path, _ref(primary, name).path, version)
        copied += c
        ref = _ref(primary, name)
        if _latest(spark, ref) != version:  # the primary kept later commits whose files are gone
            spark.sql(f"RESTORE TABLE {ref.sql_name} TO VERSION AS OF {version}").collect()
        log.info("rebuilt %s at version %s (%s files copied)", name, version, c)
    rebuilt = RestorePoint(point.id, point.taken_at, primary, point.versions)
    new_epoch(primary, rebuilt)
    files_for(primary).write_text(restore_point_path(primary, point.id), rebuilt.to_json())
    checked = verify(spark, rebuilt, replica)
    return {"restore_point": point.id, "tables": len(point.versions), "files_copied": copied,
            "rows_verified": sum(rows for rows, _ in checked.values())}  # fmt: skip


def run(spark: SparkSession, ctx: RunContext, spec: DrSpec, log: logging.Logger) -> Metrics:
    if ctx.spec.location.catalog:
        raise JobError("dr works on path-based tables (a lakehouse root); catalog tables: use the catalog's own DR")
    if spec.action == "restore_point":
        point = take_point(spark, ctx.root, spec.tables)
        log.info("restore point %s: %s tables", point.id, len(point.versions))
        return {"restore_point": point.id, "tables": len(point.versions)}
    if spec.action in ("replicate", "rebuild") and not spec.replica_root:
        raise JobError(f"dr {spec.action} needs replica_root")
    if spec.action == "replicate":
        return replicate(spark, load_point(ctx.root, spec.restore_point), spec.replica_root, log)
    if not spec.restore_point:
        raise RestorePointError(f"dr {spec.action} needs a restore point id (recorded: {_ids(ctx, spec)})")
    if spec.action == "restore":
        return restore(spark, load_point(ctx.root, spec.restore_point), log)
    return rebuild(spark, load_point(spec.replica_root, spec.restore_point), spec.replica_root, ctx.root, log)


def _ids(ctx: RunContext, spec: DrSpec) -> str:
    root = spec.replica_root if spec.action == "rebuild" else ctx.root
    return ", ".join(p.id for p in points(root)) or "none"


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, DrSpec)
    if spec.action == "rebuild":
        ensure_root(ctx.root)  # the primary bucket may be gone: the step result lands there
    return run_step(ctx, "dr", lambda: run(get_spark(f"dr-{spec.action}"), ctx, spec, log), log)
