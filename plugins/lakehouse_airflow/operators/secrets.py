"""Secrets of Airflow connections as a job's environment, resolved at execute time (never in
argv, templates or XCom); the names come from ``lakehouse_contract.secrets``."""

from __future__ import annotations

from airflow.sdk import BaseHook
from airflow.sdk.exceptions import AirflowFailException

from lakehouse_contract.secrets import JDBC_ENV_PREFIX, PII_KEY_ENV, jdbc_env_names
from lakehouse_contract.storage import ACCESS_KEY_ENV, ENDPOINT_ENV, REGION_ENV, SECRET_KEY_ENV


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


def object_store_env(conn_id: str) -> dict[str, str]:
    """Key pair, endpoint and region of an ``aws`` connection (the amazon provider's reading of it:
    login/password or extra keys, ``endpoint_url`` and ``region_name`` in extra) as the job's
    environment, for a lakehouse root on an object store."""
    from airflow.providers.amazon.aws.utils.connection_wrapper import AwsConnectionWrapper

    wrapped = AwsConnectionWrapper(conn=BaseHook.get_connection(conn_id))
    if not (wrapped.aws_access_key_id and wrapped.aws_secret_access_key):
        raise AirflowFailException(
            f"connection {conn_id!r} has no access key pair; an s3a:// lakehouse root needs one (login/password)"
        )
    env = {ACCESS_KEY_ENV: wrapped.aws_access_key_id, SECRET_KEY_ENV: wrapped.aws_secret_access_key}
    endpoint = wrapped.get_service_endpoint_url("s3")
    if endpoint:
        env[ENDPOINT_ENV] = endpoint
    if wrapped.region_name:
        env[REGION_ENV] = wrapped.region_name
    return env
