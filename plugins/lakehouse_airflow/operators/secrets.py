"""Secrets of Airflow connections as a job's environment, resolved at execute time (never in
argv, templates or XCom); the names come from ``lakehouse_contract.secrets``."""

from __future__ import annotations

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException

from lakehouse_contract.secrets import JDBC_ENV_PREFIX, PII_KEY_ENV, jdbc_env_names


def jdbc_env(conn_id: str) -> dict[str, str]:
    """JDBC URL/user/password of an Airflow connection as the job's secret environment."""
    conn = BaseHook.get_connection(conn_id)
    names = jdbc_env_names(JDBC_ENV_PREFIX)
    return {
        names["URL"]: f"jdbc:postgresql://{conn.host}:{conn.port or 5432}/{conn.schema}",
        names["USER"]: conn.login or "",
        names["PASSWORD"]: conn.password or "",
    }


def pii_key_env(conn_id: str) -> dict[str, str]:
    """The PII hashing key (the connection's password) as the job's secret environment."""
    conn = BaseHook.get_connection(conn_id)
    if not conn.password:
        raise AirflowFailException(f"connection {conn_id!r} has no password; it must hold the PII hashing key")
    return {PII_KEY_ENV: conn.password}
