"""The source checks of ``validate_connection``, as data, and the one function that runs them.

Airflow's ``ValidateSourceOperator`` runs them through PostgresHook; the ``validate`` Spark job
(the native Databricks job, no Airflow worker) through JDBC. Both hand :func:`run_source_checks` a
``query(sql) -> rows`` function, so the SQL, the order and the messages are the same.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from lakehouse_contract.naming import is_identifier

Query = Callable[[str], Sequence[Sequence[Any]]]
PERMANENT_CONNECT_ERRORS = ("password authentication failed", "does not exist")


class SourceCheckError(RuntimeError):
    """A permanent source problem (auth, missing table or columns, empty table): retrying cannot help."""


class SourceUnreachableError(SourceCheckError):
    """The source did not answer; may be transient (Airflow retries the task)."""


@dataclass(frozen=True)
class SourceCheck:
    name: str
    sql: str  # {schema} and {table} are validated identifiers
    failure: str  # message template: {source}, {where}, {detail}, {missing}


CONNECT = SourceCheck("connect", "SELECT 1 AS ok", "check 'connect' failed for {where}: {detail}")
TABLE_EXISTS = SourceCheck(
    "table exists",
    "SELECT to_regclass('{schema}.{table}') IS NOT NULL AS ok",
    "check 'table exists' failed: {source} not found via {where}",
)
CONTRACT_COLUMNS = SourceCheck(
    "contract columns",
    "SELECT column_name FROM information_schema.columns WHERE table_schema = '{schema}' AND table_name = '{table}'",
    "check 'contract columns' failed: {source} lacks columns {missing}",
)
NOT_EMPTY = SourceCheck(
    "not empty",
    'SELECT EXISTS (SELECT 1 FROM "{schema}"."{table}") AS ok',
    "check 'not empty' failed: {source} has no rows (set allow_empty: true to permit empty loads)",
)
CHECKS = (CONNECT, TABLE_EXISTS, CONTRACT_COLUMNS, NOT_EMPTY)


def _sql(check: SourceCheck, schema: str, table: str) -> str:
    return check.sql.format(schema=schema, table=table)


def run_source_checks(query: Query, source: str, columns: Sequence[str], allow_empty: bool, where: str) -> int:
    """Run the checks in order; the number of contract columns, or the first failure as an error.

    ``where`` names the connection in messages (never a credential)."""
    schema, _, table = source.partition(".")
    if not (is_identifier(schema) and is_identifier(table)):
        raise SourceCheckError(f"source {source!r} is not a schema.table of identifiers")
    try:
        query(_sql(CONNECT, schema, table))
    except Exception as exc:  # driver errors name host and user, never the password
        detail = " ".join(str(exc).split())
        error = SourceCheckError if any(m in detail for m in PERMANENT_CONNECT_ERRORS) else SourceUnreachableError
        raise error(CONNECT.failure.format(where=where, detail=detail[:500])) from None
    if not query(_sql(TABLE_EXISTS, schema, table))[0][0]:
        raise SourceCheckError(TABLE_EXISTS.failure.format(source=source, where=where))
    present = {row[0] for row in query(_sql(CONTRACT_COLUMNS, schema, table))}
    missing = [c for c in columns if c not in present]
    if missing:
        raise SourceCheckError(CONTRACT_COLUMNS.failure.format(source=source, missing=missing))
    if not allow_empty and not query(_sql(NOT_EMPTY, schema, table))[0][0]:
        raise SourceCheckError(NOT_EMPTY.failure.format(source=source))
    return len(columns)
