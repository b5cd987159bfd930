"""Resolve JDBC credentials from a secret *reference*; the values are never logged.

Reference forms:
* ``env:PREFIX``        -> ``PREFIX_URL``, ``PREFIX_USER``, ``PREFIX_PASSWORD`` environment variables
                           (set by the Airflow operator at execute time from the connection).
* ``dbsecrets:SCOPE``   -> Databricks secret scope keys ``jdbc-url``, ``jdbc-user``, ``jdbc-password``
                           (and ``pii-hash-key`` for the PII key, see pii.resolve_key).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from spark_jobs.lib.errors import SecretNotFoundError


@dataclass(frozen=True)
class JdbcCredentials:
    url: str
    user: str
    password: str = field(repr=False)


def _from_env(prefix: str) -> JdbcCredentials:
    values = {}
    for part in ("URL", "USER", "PASSWORD"):
        name = f"{prefix}_{part}"
        value = os.environ.get(name)
        if not value:
            raise SecretNotFoundError(f"secret reference env:{prefix}: environment variable {name} is not set")
        values[part] = value
    return JdbcCredentials(values["URL"], values["USER"], values["PASSWORD"])


def databricks_secret(scope: str, key: str) -> str:
    """One value of a Databricks secret scope, through ``databricks.sdk.runtime.dbutils``: the
    runtime's own dbutils on a cluster (values redacted in its logs), the workspace API elsewhere."""
    try:
        from databricks.sdk.runtime import dbutils

        return str(dbutils.secrets.get(scope, key))
    except Exception as exc:
        raise SecretNotFoundError(f"secret reference dbsecrets:{scope} key {key}: {type(exc).__name__}") from None


def _from_databricks(scope: str) -> JdbcCredentials:
    return JdbcCredentials(
        databricks_secret(scope, "jdbc-url"),
        databricks_secret(scope, "jdbc-user"),
        databricks_secret(scope, "jdbc-password"),
    )


def resolve_jdbc(reference: str) -> JdbcCredentials:
    kind, _, name = reference.partition(":")
    if not name:
        raise SecretNotFoundError(f"malformed secret reference {reference!r} (expected env:NAME or dbsecrets:SCOPE)")
    if kind == "env":
        return _from_env(name)
    if kind == "dbsecrets":
        return _from_databricks(name)
    raise SecretNotFoundError(f"unknown secret reference kind {kind!r} in {reference!r}")
