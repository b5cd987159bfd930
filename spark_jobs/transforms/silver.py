"""Pure bronze -> silver transforms: standardise to the contract, deduplicate, protect PII."""

from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql.types import StringType

from lakehouse_contract.naming import CAST_FAILED, RESCUED_DATA
from lakehouse_contract.specs import SilverSpec
from spark_jobs.runtime.errors import SchemaContractError
from spark_jobs.transforms import schema
from spark_jobs.transforms.pii import hmac_sha256, mask


def standardize(bronze: DataFrame, spec: SilverSpec, carry: tuple[str, ...] = ()) -> DataFrame:
    """Select the contract's source columns cast to their types; strings trimmed (blank -> NULL);
    ``lowercase`` columns lower-cased. A value that does not fit its type (a decimal over the
    contract's precision, text that is no number; for file sources, a value bronze rescued) becomes
    NULL and its column is named in ``_cast_failed``, for the generated ``<col>_fits_contract`` rule to quarantine the row. Keeps
    ``_batch_id``/``_logical_date`` (and the ``carry`` columns) from bronze."""
    missing = [c for c in spec.columns if c not in bronze.columns]
    if missing:
        raise SchemaContractError(f"{spec.table}: bronze is missing contract columns {missing}")
    cols, failed = [], []
    for col, typ in schema.types(spec).items():
        if isinstance(typ, StringType):
            value = F.nullif(F.trim(F.col(col).cast(typ)), F.lit(""))
            if col in spec.lowercase:
                value = F.lower(value)
        else:
            value = F.col(col).try_cast(typ)
            failed.append(F.when(F.col(col).isNotNull() & value.isNull(), F.lit(col)))
        cols.append(value.alias(col))
    misfits = F.filter(F.array(*failed), lambda c: c.isNotNull()) if failed else F.array().cast("array<string>")
    if RESCUED_DATA in bronze.columns:  # file sources: values bronze kept as text because they did not fit
        typed = [c for c, t in schema.types(spec).items() if not isinstance(t, StringType)]
        rescued = F.map_keys(F.from_json(F.col(RESCUED_DATA), "map<string,string>"))
        kept = F.filter(F.coalesce(rescued, F.array().cast("array<string>")), lambda c: c.isin(typed))
        misfits = F.array_distinct(F.concat(misfits, kept))
    out = bronze.select(
        *cols,
        misfits.alias(CAST_FAILED),
        F.col("_batch_id"),
        F.col("_logical_date").cast("date").alias("_logical_date"),
        *carry,
    )
    for derived in spec.derive:  # in order: a derivation may use the ones before it
        out = out.withColumn(derived.name, F.expr(derived.expr).try_cast(schema.spark_type(derived.type)))
    return out


def dedupe_latest(df: DataFrame, keys: tuple[str, ...], order_by: str = "updated_at") -> DataFrame:
    """One row per primary key: the one with the latest ``order_by`` (ties broken deterministically
    by the other columns). Rows with a NULL in a key column are not duplicates of each other: they
    all stay, for the key's ``<col>_not_null`` rule to quarantine each of them."""
    tiebreak = [F.col(c).desc_nulls_last() for c in df.columns if c not in keys and c != order_by]
    ordering = [F.col(order_by).desc_nulls_last(), *tiebreak] if order_by in df.columns else tiebreak
    window = Window.partitionBy(*keys).orderBy(*ordering)
    null_key = reduce(lambda a, b: a | b, [F.col(k).isNull() for k in keys])
    ranked = df.withColumn("__rn", F.when(null_key, F.lit(1)).otherwise(F.row_number().over(window)))
    return ranked.where("__rn = 1").drop("__rn")


def protect_pii(df: DataFrame, spec: SilverSpec, key: bytes) -> DataFrame:
    """Replace each PII column by ``<col>_hash`` (keyed) and ``<col>_masked``; add the hashed id."""
    out = df
    if spec.hashed_id:
        out = out.withColumn(spec.hashed_id, hmac_sha256(F.col(spec.primary_key[0]), key))
    for col, kind in spec.pii.items():
        out = out.withColumn(f"{col}_hash", hmac_sha256(F.col(col), key))
        out = out.withColumn(f"{col}_masked", mask(F.col(col), kind)).drop(col)
    return out


def to_contract(df: DataFrame, spec: SilverSpec, carry: tuple[str, ...] = ()) -> DataFrame:
    """Final select: exactly the contract's columns, in order (then the ``carry`` columns), with a
    hash of the business columns (a rerun that changes nothing updates nothing)."""
    business = schema.business_columns(spec)
    row_hash = F.sha2(F.to_json(F.struct(*[F.col(c) for c in business])), 256)
    out = df.withColumn("_row_hash", row_hash)
    contract = schema.contract(spec)
    return out.select(*[F.col(f.name).cast(f.dataType).alias(f.name) for f in contract.fields], *carry)
