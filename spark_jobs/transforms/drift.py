"""Source schema drift against the table's contract: new columns are carried into bronze and
reported; a dropped or retyped contract column stops the table before anything is written."""

from __future__ import annotations

from dataclasses import dataclass

from spark_jobs.runtime.errors import SchemaDriftError

# contract type (Spark) -> PostgreSQL information_schema.columns.data_type values it accepts
PG_TYPES: dict[str, frozenset[str]] = {
    "bigint": frozenset({"bigint"}),
    "int": frozenset({"integer"}),
    "smallint": frozenset({"smallint"}),
    "string": frozenset({"text", "character varying", "character"}),
    "double": frozenset({"double precision"}),
    "float": frozenset({"real"}),
    "boolean": frozenset({"boolean"}),
    "date": frozenset({"date"}),
    "timestamp": frozenset({"timestamp without time zone", "timestamp with time zone"}),
    "decimal": frozenset({"numeric"}),
}


@dataclass(frozen=True)
class Drift:
    added: tuple[tuple[str, str], ...]  # (column, source type) not in the contract, in source order

    def describe(self) -> str | None:
        return ", ".join(f"added {c} ({t})" for c, t in self.added) or None


def check_drift(table: str, contract: dict[str, str], source: dict[str, str]) -> Drift:
    """Compare the source's columns (name -> PostgreSQL type, in order) with the contract."""
    dropped = [c for c in contract if c not in source]
    retyped = [
        f"{c}: contract {t}, source {source[c]}"
        for c, t in contract.items()
        if c in source and source[c] not in PG_TYPES.get(t.split("(")[0], frozenset())
    ]
    problems = [*(["dropped " + ", ".join(dropped)] if dropped else []), *(f"retyped {r}" for r in retyped)]
    if problems:
        raise SchemaDriftError(
            f"source schema of {table} no longer matches its contract: {'; '.join(problems)}. "
            "Nothing was written; update the table's columns in the pipeline config (or the source)."
        )
    return Drift(tuple((c, t) for c, t in source.items() if c not in contract))
