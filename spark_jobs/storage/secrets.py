"""Resolve secrets from a *reference* (``lakehouse_contract.secrets``); values are never logged.

Reference forms:
* ``env:PREFIX``        -> JDBC: ``PREFIX_URL``, ``PREFIX_USER``, ``PREFIX_PASSWORD`` environment variables;
                           PII key: the variable ``PREFIX`` (set by the Airflow operator at execute time).
* ``dbsecrets:SCOPE``   -> keys of that Databricks secret scope (``JDBC_SCOPE_KEYS``, ``PII_SCOPE_KEY``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

from lakehouse_contract.secrets import (
    ENV,
    JDBC_SCOPE_KEYS,
    PII_SCOPE_KEY,
    SecretReferenceError,
    jdbc_env_names,
    parse_ref,
)
from spark_jobs.runtime.errors import SecretNotFoundError


@dataclass(frozen=True)
class JdbcCredentials:
    url: str
    user: str
    password: str = field(repr=False)


def _parse(reference: str) -> tuple[str, str]:
    try:
        return parse_ref(reference)
    except SecretReferenceError as exc:
        raise SecretNotFoundError(str(exc)) from None


def _from_env(prefix: str) -> JdbcCredentials:
    values = {}
    for part, name in jdbc_env_names(prefix).items():
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


def resolve_jdbc(reference: str) -> JdbcCredentials:
    kind, name = _parse(reference)
    if kind == ENV:
        return _from_env(name)
    return JdbcCredentials(*(databricks_secret(name, JDBC_SCOPE_KEYS[p]) for p in ("URL", "USER", "PASSWORD")))


def resolve_key(reference: str) -> bytes:
    """The PII hashing key: ``env:NAME`` -> the bytes of environment variable NAME (set by the
    operator from a connection); ``dbsecrets:SCOPE`` -> the scope's PII key."""
    kind, name = _parse(reference)
    if kind != ENV:
        return databricks_secret(name, PII_SCOPE_KEY).encode()
    value = os.environ.get(name)
    if not value:
        raise SecretNotFoundError(f"PII key reference {reference}: environment variable {name} is not set")
    return value.encode()
