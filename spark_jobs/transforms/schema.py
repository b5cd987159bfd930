"""The silver schema contract of a table, derived from its typed spec (``lakehouse_contract``)."""

from __future__ import annotations

import re

from pyspark.sql.types import (
    ArrayType,
    BooleanType,
    DataType,
    DateType,
    DecimalType,
    DoubleType,
    FloatType,
    IntegerType,
    LongType,
    ShortType,
    StringType,
    StructField,
    StructType,
    TimestampType,
)

from lakehouse_contract import naming
from lakehouse_contract.specs import SilverSpec

SILVER_METADATA = (("_batch_id", "string"), ("_logical_date", "date"), ("_row_hash", "string"))
SIMPLE_TYPES: dict[str, DataType] = {
    "string": StringType(), "int": IntegerType(), "bigint": LongType(), "smallint": ShortType(),
    "double": DoubleType(), "float": FloatType(), "boolean": BooleanType(), "date": DateType(),
    "timestamp": TimestampType(),
}  # fmt: skip
assert tuple(SIMPLE_TYPES) == naming.SIMPLE_TYPES, "the contract's type vocabulary changed"
DECIMAL = re.compile(rf"^{naming.DECIMAL_TYPE}$")


def spark_type(name: str) -> DataType:
    """A contract type name as a Spark type, parsed here (no server round trip)."""
    if name in SIMPLE_TYPES:
        return SIMPLE_TYPES[name]
    match = DECIMAL.match(name)
    if match:
        return DecimalType(int(match[1]), int(match[2]))
    raise ValueError(f"unsupported contract type {name!r}")


def types(spec: SilverSpec) -> dict[str, DataType]:
    """The source columns' types (what standardising casts bronze to)."""
    return {c: spark_type(t) for c, t in spec.columns.items()}


def all_types(spec: SilverSpec) -> dict[str, DataType]:
    """Source columns, then derived columns."""
    return {**types(spec), **{d.name: spark_type(d.type) for d in spec.derive}}


def contract(spec: SilverSpec) -> StructType:
    """Silver columns in order: source columns (PII replaced by <col>_hash, <col>_masked), the
    hashed id, then metadata. Required columns are NOT NULL."""
    fields: list[StructField] = []
    if spec.hashed_id:
        fields.append(StructField(spec.hashed_id, StringType(), False))
    for col, typ in all_types(spec).items():
        nullable = col not in spec.required and col not in spec.primary_key
        if col in spec.pii:
            fields.append(StructField(f"{col}_hash", StringType(), nullable))
            fields.append(StructField(f"{col}_masked", StringType(), nullable))
        else:
            fields.append(StructField(col, typ, nullable))
    fields += [StructField(n, spark_type(t), n != "_row_hash") for n, t in SILVER_METADATA]
    return StructType(fields)


def quarantine_contract(spec: SilverSpec) -> StructType:
    """The quarantine table's columns: the silver contract without the row hash, all nullable (a
    quarantined row may miss a required value), plus the names of the rules it failed."""
    fields = [StructField(f.name, f.dataType, True) for f in contract(spec).fields if f.name != "_row_hash"]
    return StructType([*fields, StructField("_dq_failed_rules", ArrayType(StringType()), True)])


def history_contract(spec: SilverSpec) -> StructType:
    """The history table (``silver.history: scd2``): the silver contract, then when each version
    was valid (``_valid_to`` NULL: still valid) and whether it is the key's current one."""
    validity = [
        StructField(naming.VALID_FROM, TimestampType(), False),
        StructField(naming.VALID_TO, TimestampType(), True),
        StructField(naming.IS_CURRENT, BooleanType(), False),
    ]
    return StructType([*contract(spec).fields, *validity])


def business_columns(spec: SilverSpec) -> list[str]:
    meta = {n for n, _ in SILVER_METADATA}
    return [f.name for f in contract(spec).fields if f.name not in meta]
