"""validate_connection: fail fast, before any Spark job, with a message naming the failed check.

The checks themselves (SQL, order, messages) are ``lakehouse_contract.checks``; here they run
through the provider's PostgresHook.
"""

from __future__ import annotations

from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook
from airflow.sdk import BaseOperator, Context
from airflow.sdk.exceptions import AirflowFailException

from lakehouse_airflow.build.params import skip_unless_selected
from lakehouse_contract.checks import SourceCheckError, SourceUnreachableError, run_source_checks
from lakehouse_contract.specs import ValidateSpec


class ValidateSourceOperator(BaseOperator):
    """The connection answers, the table exists, the contract's columns exist, the table has rows.

    On failure the message (never the password) is pushed to XCom key ``error`` so the table's
    audit row records it. A permanent failure fails the task without retries; an unreachable
    source is retried.
    """

    ui_color = "#e8f4fd"

    def __init__(
        self, *, postgres_conn_id: str, check: ValidateSpec, lakehouse_tables: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.lakehouse_tables = lakehouse_tables
        self.postgres_conn_id = postgres_conn_id
        self.check = check

    def execute(self, context: Context) -> dict[str, object]:
        skip_unless_selected(context, self.lakehouse_tables)
        hook = PostgresHook(postgres_conn_id=self.postgres_conn_id)
        spec = self.check
        try:
            columns = run_source_checks(
                hook.get_records, spec.source, list(spec.columns), spec.allow_empty,
                where=f"connection {self.postgres_conn_id!r}",
            )  # fmt: skip
        except SourceUnreachableError as exc:
            context["ti"].xcom_push(key="error", value=str(exc))
            raise
        except SourceCheckError as exc:
            context["ti"].xcom_push(key="error", value=str(exc))
            raise AirflowFailException(str(exc)) from None
        self.log.info("source %s passed all checks (%d contract columns)", spec.source, columns)
        return {"table": spec.source, "columns": columns}
