"""What a commit records about the inputs it was built from, and how a later run reads it back.

A job that may find its inputs unchanged (a full table whose source did not change, its silver
whose bronze, rules, key and parents did not) writes a *mark* into the ``userMetadata`` of the
commit that stores its result: ``{"lakehouse": {...}}``, in the same commit as the data, so a mark
never describes data that did not land. The next run computes the mark its inputs would give and
compares it with the one on the table's newest data-changing commit (maintenance that only
rewrites files -- OPTIMIZE, VACUUM -- is looked through; any other commit, a RESTORE, an ALTER,
a write by hand, carries no mark and so forces a rebuild). Equal marks: nothing to do. A mark is a
digest, never a value: no source row and no secret reaches the table's history.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import json
import logging
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from pyspark.sql import SparkSession

from spark_jobs.runtime.parallel import run_all
from spark_jobs.storage.tables import TableRef

KEY = "lakehouse"
USER_METADATA = "userMetadata"  # the DataFrameWriter option
SESSION_METADATA = "spark.databricks.delta.commitInfo.userMetadata"  # MERGE and SQL commits
FILE_ONLY = frozenset({"OPTIMIZE", "VACUUM START", "VACUUM END"})  # rewrite or delete files, never rows
HISTORY_DEPTH = 20
log = logging.getLogger("spark_jobs")


@dataclass(frozen=True)
class DataCommit:
    version: int
    mark: dict[str, str]  # empty when the commit carries none
    timestamp: str = ""

    @property
    def identity(self) -> str:
        """Version and time: a table dropped and rebuilt up to the same version is another commit."""
        return f"{self.version}@{self.timestamp}"


def mark_text(mark: dict[str, str]) -> str:
    return json.dumps({KEY: mark}, sort_keys=True)


def _parse(text: str | None) -> dict[str, str]:
    try:
        found = json.loads(text or "")[KEY]
    except (ValueError, KeyError, TypeError):
        return {}
    return {str(k): str(v) for k, v in found.items()} if isinstance(found, dict) else {}


def last_data_commit(spark: SparkSession, table: TableRef) -> DataCommit | None:
    """The newest commit of ``table`` that changed rows, with its mark; None when the table does not
    exist or only file maintenance is in its last ``HISTORY_DEPTH`` commits."""
    if not table.exists():
        return None
    rows = spark.sql(f"DESCRIBE HISTORY {table.sql_name} LIMIT {HISTORY_DEPTH}")
    for row in rows.select("version", "timestamp", "operation", USER_METADATA).collect():  # newest first
        if row["operation"] not in FILE_ONLY:
            return DataCommit(int(row["version"]), _parse(row[USER_METADATA]), str(row["timestamp"]))
    return None


def last_data_commits(spark: SparkSession, tables: Sequence[TableRef]) -> list[DataCommit | None]:
    """``last_data_commit`` of each table, side by side (each is a small history read), in order."""
    return run_all([functools.partial(last_data_commit, spark, table) for table in tables])


def inputs_mark(
    spark: SparkSession, tables: dict[str, TableRef], built_by: str, **digests: str | None
) -> dict[str, str] | None:
    """The mark a build from ``tables`` (name -> table, each at its newest data commit: version and
    time, so a table dropped and rebuilt to the same version differs) and ``digests`` (spec, code,
    ...) commits with, naming ``built_by`` as its run; None when a digest or a table's version is
    missing (such a build is never judged unchanged)."""
    if any(d is None for d in digests.values()):
        return None
    commits = last_data_commits(spark, list(tables.values()))
    if any(c is None for c in commits):
        return None
    parts = {name: c.identity for name, c in zip(tables, commits, strict=True) if c is not None}
    parts.update({name: d for name, d in digests.items() if d is not None})
    return {"inputs": digest(parts), "built_by": built_by}


def built_by(spark: SparkSession, table: TableRef, mark: dict[str, str] | None) -> str | None:
    """The run named by ``table``'s newest data commit when that commit carries ``mark``'s inputs
    digest, else None."""
    held = last_data_commit(spark, table) if mark is not None else None
    if mark is None or held is None or held.mark.get("inputs") != mark["inputs"]:
        return None
    return held.mark.get("built_by") or None


@contextmanager
def marked_commits(spark: SparkSession, mark: dict[str, str]) -> Iterator[None]:
    """Every commit this session makes inside the block carries ``mark`` (MERGE, SQL, writes).
    Compute that refuses the setting (a serverless allow-list) commits unmarked: the next run
    then finds no mark and rebuilds, as before marks existed."""
    try:
        spark.conf.set(SESSION_METADATA, mark_text(mark))
    except Exception as exc:  # any refusal: carry on without the mark
        log.warning("commits not marked (%s: %s): the next run rebuilds", type(exc).__name__, exc)
        yield
        return
    try:
        yield
    finally:
        spark.conf.unset(SESSION_METADATA)


def digest(parts: dict[str, str]) -> str:
    return hashlib.sha256(json.dumps(parts, sort_keys=True).encode()).hexdigest()[:32]


def key_digest(key: bytes) -> str:
    """A keyed hash's key, as a mark may hold it: an HMAC of a constant (the key cannot be derived)."""
    return hmac.new(key, b"lakehouse commit mark", hashlib.sha256).hexdigest()[:16] if key else ""


def code_digest(*modules: ModuleType) -> str | None:
    """The source of ``modules``: a rebuild after a deploy that changed how the data is made.
    None when a module's source file cannot be read (then nothing is ever judged unchanged)."""
    h = hashlib.sha256()
    for module in modules:
        source = getattr(module, "__file__", None)
        if not source:
            return None
        try:
            h.update(Path(source).read_bytes())
        except OSError:
            return None
    return h.hexdigest()[:16]
