"""Contract type names become Spark types locally (no server round trip). Whether a written table's
schema carries a collation is decided by the server: tests/integration/test_delta_readers.py checks that."""

from __future__ import annotations

import pytest

from spark_jobs.storage.audit_log import AUDIT_SCHEMA
from spark_jobs.transforms.schema import spark_type


@pytest.mark.parametrize(
    ("name", "json"),
    [
        ("string", '"string"'), ("int", '"integer"'), ("bigint", '"long"'), ("smallint", '"short"'),
        ("double", '"double"'), ("float", '"float"'), ("boolean", '"boolean"'), ("date", '"date"'),
        ("timestamp", '"timestamp"'), ("decimal(12,2)", '"decimal(12,2)"'), ("decimal(5, 2)", '"decimal(5,2)"'),
    ],
)  # fmt: skip
def test_contract_types_parse_locally(name: str, json: str) -> None:
    assert spark_type(name).json() == json


def test_unknown_types_are_refused_and_the_audit_schema_is_collation_free() -> None:
    with pytest.raises(ValueError, match="unsupported contract type 'varchar'"):
        spark_type("varchar")
    assert "collate" not in AUDIT_SCHEMA.json() and len(AUDIT_SCHEMA.fields) == 26
