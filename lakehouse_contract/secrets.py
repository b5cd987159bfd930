"""Secrets travel by reference. The names both sides must agree on, and the reference forms.

``env:<PREFIX>``      the job reads environment variables the Airflow operator sets at execute time
                      from a connection (JDBC: ``<PREFIX>_URL``, ``_USER``, ``_PASSWORD``; PII key:
                      the variable ``<PREFIX>`` itself);
``dbsecrets:<scope>`` the job reads keys of a Databricks secret scope (``SCOPE_KEYS``).
"""

from __future__ import annotations

from lakehouse_contract.storage import ACCESS_KEY_ENV, SECRET_KEY_ENV

JDBC_ENV_PREFIX = "LAKEHOUSE_JDBC"
JDBC_PARTS = ("URL", "USER", "PASSWORD")
PII_KEY_ENV = "LAKEHOUSE_PII_KEY"
JDBC_SCOPE_KEYS = {"URL": "jdbc-url", "USER": "jdbc-user", "PASSWORD": "jdbc-password"}
PII_SCOPE_KEY = "pii-hash-key"
# an s3a:// lakehouse on Databricks without an instance profile: the storage connection's key pair,
# which the environment's cluster.spark_env_vars reference as {{secrets/<scope>/<key>}}
OBJECT_STORE_SCOPE_KEYS = {ACCESS_KEY_ENV: "s3-access-key", SECRET_KEY_ENV: "s3-secret-key"}
# environment variable the operator sets -> secret-scope key `deploy --secrets` puts it under
SCOPE_KEYS = {
    **{f"{JDBC_ENV_PREFIX}_{part}": key for part, key in JDBC_SCOPE_KEYS.items()},
    PII_KEY_ENV: PII_SCOPE_KEY,
    **OBJECT_STORE_SCOPE_KEYS,
}
ENV = "env"
SCOPE = "dbsecrets"


class SecretReferenceError(ValueError):
    """A secret reference is malformed (the message never holds a secret value)."""


def env_ref(name: str) -> str:
    return f"{ENV}:{name}"


def scope_ref(scope: str) -> str:
    return f"{SCOPE}:{scope}"


def parse_ref(reference: str) -> tuple[str, str]:
    """``(kind, name)`` of ``env:NAME`` or ``dbsecrets:SCOPE``."""
    kind, _, name = reference.partition(":")
    if kind not in (ENV, SCOPE) or not name:
        raise SecretReferenceError(f"malformed secret reference {reference!r} (expected env:NAME or dbsecrets:SCOPE)")
    return kind, name


def jdbc_env_names(prefix: str = JDBC_ENV_PREFIX) -> dict[str, str]:
    """Part (URL, USER, PASSWORD) -> environment variable name."""
    return {part: f"{prefix}_{part}" for part in JDBC_PARTS}
