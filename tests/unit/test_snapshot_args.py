"""The snapshot plumbing that needs no server: session init statements and connection arguments."""

from __future__ import annotations

import pytest

from spark_jobs.storage.secrets import JdbcCredentials
from spark_jobs.storage.snapshot import connect_args, session_init


def test_session_init_imports_the_snapshot_and_refuses_anything_else() -> None:
    assert session_init("00000003-0000001B-1") == (
        "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '00000003-0000001B-1'"
    )
    with pytest.raises(ValueError, match="not a PostgreSQL snapshot id"):
        session_init("x'; DROP TABLE t; --")


def test_the_coordinating_connection_uses_the_jdbc_url_and_the_secret() -> None:
    creds = JdbcCredentials("jdbc:postgresql://db.example:6543/DE?ssl=true", "u", "p")
    assert connect_args(creds) == {"host": "db.example", "port": 6543, "dbname": "DE"}
    with pytest.raises(ValueError, match="not a PostgreSQL JDBC URL"):
        connect_args(JdbcCredentials("jdbc:mysql://h/db", "u", "p"))
