"""validate_connection: fail fast, before any Spark job, with a message naming the failed check."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from lakehouse_airflow.params import skip_unless_selected


class SourceCheckError(AirflowFailException):
    """A permanent source problem (auth, missing table/columns, empty table): retrying cannot help."""


class SourceUnreachableError(RuntimeError):
    """The source did not answer; may be transient, so the task's retries apply."""


class ValidateSourceOperator(BaseOperator):
    """``SELECT 1``, the table exists, the contract's columns exist, the table is not empty.

    On failure the message (never the password) is pushed to XCom key ``error`` so the table's
    audit row records it.
    """

    ui_color = "#e8f4fd"

    def __init__(
        self,
        *,
        postgres_conn_id: str,
        schema: str,
        table: str,
        columns: Sequence[str],
        allow_empty: bool = False,
        lakehouse_tables: tuple[str, ...] = (),
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.lakehouse_tables = lakehouse_tables
        self.postgres_conn_id = postgres_conn_id
        self.schema = schema
        self.table = table
        self.columns = tuple(columns)
        self.allow_empty = allow_empty

    def execute(self, context: Context) -> dict[str, object]:
        skip_unless_selected(context, self.lakehouse_tables)
        try:
            return self._checks()
        except (SourceCheckError, SourceUnreachableError) as exc:
            context["ti"].xcom_push(key="error", value=str(exc))
            raise

    def _checks(self) -> dict[str, object]:
        hook = PostgresHook(postgres_conn_id=self.postgres_conn_id)
        where = f"connection {self.postgres_conn_id!r}"
        try:
            hook.get_first("SELECT 1")
        except Exception as exc:  # driver errors carry host/user, never the password
            detail = " ".join(str(exc).split())
            if "password authentication failed" in detail or "does not exist" in detail:
                raise SourceCheckError(f"check 'connect' failed for {where}: {detail}") from None
            raise SourceUnreachableError(f"check 'connect' failed for {where}: {detail}") from None
        qualified = f"{self.schema}.{self.table}"
        if hook.get_first("SELECT to_regclass(%s)", parameters=(qualified,))[0] is None:
            raise SourceCheckError(f"check 'table exists' failed: {qualified} not found via {where}")
        rows = hook.get_records(
            "SELECT column_name FROM information_schema.columns WHERE table_schema = %s AND table_name = %s",
            parameters=(self.schema, self.table),
        )
        present = {r[0] for r in rows}
        missing = [c for c in self.columns if c not in present]
        if missing:
            raise SourceCheckError(f"check 'contract columns' failed: {qualified} lacks columns {missing}")
        has_rows = hook.get_first(f'SELECT EXISTS (SELECT 1 FROM "{self.schema}"."{self.table}")')[0]
        if not has_rows and not self.allow_empty:
            raise SourceCheckError(
                f"check 'not empty' failed: {qualified} has no rows (set allow_empty: true to permit empty loads)"
            )
        self.log.info("source %s passed all checks (%d contract columns)", qualified, len(self.columns))
        return {"table": qualified, "columns": len(self.columns)}
