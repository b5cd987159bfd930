"""validate: the source checks of Airflow's ``validate_connection``, as a Spark job.

Used where no Airflow worker runs the task (the pipeline exported as a native Databricks job).
The checks (SQL, order, messages) are ``lakehouse_contract.checks``, the same Airflow runs through
PostgresHook; here they run through Spark's JDBC reader. The outcome is a step result, so the
table's audit records the failed check's message (never a credential).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pyspark.sql import SparkSession

from lakehouse_contract import checks
from lakehouse_contract.results import ValidateOutcome
from lakehouse_contract.specs import ValidateSpec
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import run_step, start_job
from spark_jobs.storage import jdbc
from spark_jobs.storage.secrets import JdbcCredentials, resolve_jdbc


def jdbc_query(spark: SparkSession, creds: JdbcCredentials) -> Any:
    def query(sql: str) -> Sequence[Sequence[Any]]:
        return [tuple(row) for row in jdbc.query(spark, creds, sql).collect()]

    return query


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, ValidateSpec)

    def body() -> ValidateOutcome:
        spark = get_spark(f"validate-{ctx.table}")
        creds = resolve_jdbc(spec.jdbc_secret)
        # a failed check raises lakehouse_contract.checks.SourceCheckError, which the audit records
        # as "validate_connection failed: SourceCheckError: check '...' failed: ..."
        columns = checks.run_source_checks(
            jdbc_query(spark, creds), spec.source, list(spec.columns), spec.allow_empty,
            where=f"secret {spec.jdbc_secret}",
        )  # fmt: skip
        rows = jdbc.source_stats(spark, creds, spec.source, None).row_count
        log.info("source %s passed all checks (%d contract columns)", spec.source, columns)
        return ValidateOutcome(source_row_count=rows, contract_columns=columns)

    return run_step(ctx, "validate_connection", body, log)
