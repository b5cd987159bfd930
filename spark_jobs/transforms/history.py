"""``silver.history: scd2``: every version of a key, rebuilt from the versions bronze holds (pure
transforms; the silver job writes the result).

A version begins at (``__at``):

* a CDC change row: its transaction's commit time (deletes too), ordered by log position;
* an incremental row: its watermark value (when the source last changed it); a tombstone (the
  key was gone from the source when that slice was read) at the end of its slice's day -- the
  latest the delete can have happened.

Versions of a key are ordered by ``__order`` (an array: the time, then tie-breakers); of several at
the same instant the last counts; a version equal to the one before it (same row hash) is no new
version; a delete ends the version before it. The result is a function of the set of versions, not
of the order the slices were loaded or replayed in. History rows older than anything bronze still
holds for a key (bronze re-snapshotted or trimmed) come back in as versions, so they are kept.
"""

from __future__ import annotations

from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from lakehouse_contract.naming import (
    CDC_COMMIT_TIMESTAMP,
    CDC_LSN,
    CDC_SEQ,
    IS_CURRENT,
    SLICE_START,
    VALID_FROM,
    VALID_TO,
)
from lakehouse_contract.specs import SilverSpec
from spark_jobs.transforms.incremental import DELETED

AT, ORDER, GONE = "__at", "__order", "__gone"
CARRY = (AT, ORDER, GONE)  # what the versions carry through the silver transforms


def _micros(col: Column) -> Column:
    return F.unix_micros(col.cast("timestamp"))


def versioned(bronze: DataFrame, spec: SilverSpec) -> DataFrame:
    """Bronze rows with when their version began, their order and whether they delete the key."""
    gone = F.col("_record_status") == DELETED
    if spec.load_mode == "cdc":
        at = F.col(CDC_COMMIT_TIMESTAMP)
        order = F.array(_micros(at), F.col(CDC_LSN), F.col(CDC_SEQ).cast("long"))
    else:
        # a delete is dated at the end of the slice that found it: its day, or its hour (hourly)
        ends = F.date_add(F.col("_logical_date"), 1).cast("timestamp")
        if SLICE_START in bronze.columns:
            ends = F.coalesce(F.col(SLICE_START) + F.expr("INTERVAL 1 HOUR"), ends)
        at = F.when(gone, ends).otherwise(F.col(spec.watermark_column).cast("timestamp"))
        order = F.array(_micros(at), gone.cast("long"), F.unix_date(F.col("_logical_date")).cast("long"),
                        *([_micros(F.coalesce(F.col(SLICE_START), F.lit(0).cast("timestamp")))]
                          if SLICE_START in bronze.columns else []),
                        _micros(F.col("_load_timestamp")))  # fmt: skip
    known = reduce(lambda a, b: a & b, [F.col(k).isNotNull() for k in spec.primary_key])
    return bronze.where(known).select("*", at.cast("timestamp").alias(AT), order.alias(ORDER), gone.alias(GONE))


def kept_history(existing: DataFrame, versions: DataFrame, keys: tuple[str, ...]) -> DataFrame:
    """Existing history rows older than every version bronze holds for their key, as versions (and
    a delete where such a row was ended with no successor before bronze's versions begin)."""
    first = versions.groupBy(*keys).agg(F.min(AT).alias("__first"))
    old = existing.join(first, list(keys), "left").where(
        F.col("__first").isNull() | (F.col(VALID_FROM) < F.col("__first"))
    )
    rows = old.withColumn(AT, F.col(VALID_FROM)).withColumn(
        ORDER, F.array(_micros(F.col(VALID_FROM)), F.lit(0).cast("long"))
    )
    ended = old.where(F.col(VALID_TO).isNotNull() & (F.col("__first").isNull() | (F.col(VALID_TO) < F.col("__first"))))
    deletes = ended.select(*keys, F.col(VALID_TO).alias(AT)).withColumn(
        ORDER, F.array(_micros(F.col(AT)), F.lit(1).cast("long"))
    )
    return (
        rows.withColumn(GONE, F.lit(False))
        .drop("__first", VALID_FROM, VALID_TO, IS_CURRENT)
        .unionByName(deletes.withColumn(GONE, F.lit(True)), allowMissingColumns=True)
    )


def scd2(versions: DataFrame, keys: tuple[str, ...]) -> DataFrame:
    """``versions`` (contract columns with ``_row_hash``, plus ``__at``/``__order``/``__gone``; a
    delete carries its key only) -> one row per version: ``_valid_from``, ``_valid_to`` (NULL:
    still valid), ``_is_current``."""
    same_instant = Window.partitionBy(*keys, AT).orderBy(F.col(ORDER).desc())
    last = versions.withColumn("__rn", F.row_number().over(same_instant)).where("__rn = 1").drop("__rn")
    in_order = Window.partitionBy(*keys).orderBy(F.col(ORDER))
    state = F.when(F.col(GONE), F.lit("\u0000gone")).otherwise(F.col("_row_hash"))
    changes = (
        last.withColumn("__state", state)
        .withColumn("__prev", F.lag("__state").over(in_order))
        .where(F.col("__prev").isNull() | (F.col("__prev") != F.col("__state")))
    )
    ended = changes.withColumn(VALID_TO, F.lead(AT).over(in_order))
    return (
        ended.where(~F.col(GONE))
        .withColumn(VALID_FROM, F.col(AT))
        .withColumn(IS_CURRENT, F.col(VALID_TO).isNull())
        .drop(AT, ORDER, GONE, "__state", "__prev")
    )
