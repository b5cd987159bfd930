"""The silver schema contract of a table, derived from its typed spec (``lakehouse_contract``)."""

from __future__ import annotations

from pyspark.sql.types import DataType, StringType, StructField, StructType, _parse_datatype_string

from lakehouse_contract.specs import SilverSpec

SILVER_METADATA = (("_batch_id", "string"), ("_logical_date", "date"), ("_row_hash", "string"))


def types(spec: SilverSpec) -> dict[str, DataType]:
    return {c: _parse_datatype_string(t) for c, t in spec.columns.items()}


def contract(spec: SilverSpec) -> StructType:
    """Silver columns in order: source columns (PII replaced by <col>_hash, <col>_masked), the
    hashed id, then metadata. Required columns are NOT NULL."""
    fields: list[StructField] = []
    if spec.hashed_id:
        fields.append(StructField(spec.hashed_id, StringType(), False))
    for col, typ in types(spec).items():
        nullable = col not in spec.required and col not in spec.primary_key
        if col in spec.pii:
            fields.append(StructField(f"{col}_hash", StringType(), nullable))
            fields.append(StructField(f"{col}_masked", StringType(), nullable))
        else:
            fields.append(StructField(col, typ, nullable))
    fields += [StructField(n, _parse_datatype_string(t), n != "_row_hash") for n, t in SILVER_METADATA]
    return StructType(fields)


def business_columns(spec: SilverSpec) -> list[str]:
    meta = {n for n, _ in SILVER_METADATA}
    return [f.name for f in contract(spec).fields if f.name not in meta]
