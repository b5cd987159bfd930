"""Silver table specs (rendered as JSON by the Airflow side) and the silver schema contract."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from pyspark.sql.types import DataType, StringType, StructField, StructType, _parse_datatype_string

SILVER_METADATA = (("_batch_id", "string"), ("_logical_date", "date"), ("_row_hash", "string"))


@dataclass(frozen=True)
class Rule:
    name: str
    action: str  # expect | expect_or_drop | expect_or_quarantine | expect_or_fail
    expr: str | None = None  # SQL boolean; None for foreign keys
    fk_column: str | None = None
    fk_parent: str | None = None
    fk_parent_key: str | None = None


@dataclass(frozen=True)
class SilverSpec:
    table: str
    primary_key: tuple[str, ...]
    columns: dict[str, str]
    required: tuple[str, ...] = ()
    lowercase: tuple[str, ...] = ()
    pii: dict[str, str] = field(default_factory=dict)
    hashed_id: str | None = None
    load_mode: str = "full"  # incremental: MERGE the keys of the run's bronze slice (no delete-missing)
    watermark_column: str = "updated_at"
    rules: tuple[Rule, ...] = ()

    @classmethod
    def from_json(cls, text: str) -> SilverSpec:
        raw = json.loads(text)
        return cls(
            table=raw["table"],
            primary_key=tuple(raw["primary_key"]),
            columns=dict(raw["columns"]),
            required=tuple(raw.get("required", ())),
            lowercase=tuple(raw.get("lowercase", ())),
            pii=dict(raw.get("pii", {})),
            hashed_id=raw.get("hashed_id"),
            load_mode=raw.get("load_mode", "full"),
            watermark_column=raw.get("watermark_column", "updated_at"),
            rules=tuple(Rule(**r) for r in raw.get("rules", ())),
        )

    def types(self) -> dict[str, DataType]:
        return {c: _parse_datatype_string(t) for c, t in self.columns.items()}

    def contract(self) -> StructType:
        """Silver columns in order: source columns (PII replaced by <col>_hash, <col>_masked), the
        hashed id, then metadata. Required columns are NOT NULL."""
        fields: list[StructField] = []
        if self.hashed_id:
            fields.append(StructField(self.hashed_id, StringType(), False))
        for col, typ in self.types().items():
            nullable = col not in self.required and col not in self.primary_key
            if col in self.pii:
                fields.append(StructField(f"{col}_hash", StringType(), nullable))
                fields.append(StructField(f"{col}_masked", StringType(), nullable))
            else:
                fields.append(StructField(col, typ, nullable))
        fields += [StructField(n, _parse_datatype_string(t), n != "_row_hash") for n, t in SILVER_METADATA]
        return StructType(fields)

    def business_columns(self) -> list[str]:
        meta = {n for n, _ in SILVER_METADATA}
        return [f.name for f in self.contract().fields if f.name not in meta]
