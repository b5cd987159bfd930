"""One consistent view of a PostgreSQL source for every read of one extract.

A coordinating connection opens a ``REPEATABLE READ`` transaction and exports its snapshot
(``pg_export_snapshot()``); every JDBC connection Spark opens for that extract (the count, each
partition of the read, the keys for delete detection) starts by importing it through its
``sessionInitStatement``. They all see the source as of one moment, however many transactions
commit meanwhile, so the source count the audit reconciles and the rows bronze gets agree, and no
key is judged deleted because another read saw a later moment. The snapshot lives as long as the
coordinating transaction: the block below.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from urllib.parse import urlsplit

from spark_jobs.storage.secrets import JdbcCredentials

SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")
log = logging.getLogger("spark_jobs")


def session_init(snapshot: str) -> str:
    """What each JDBC connection runs first: a transaction on the exported snapshot."""
    if not SNAPSHOT_ID.match(snapshot):
        raise ValueError(f"not a PostgreSQL snapshot id: {snapshot!r}")
    return f"BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '{snapshot}'"


def connect_args(creds: JdbcCredentials) -> dict[str, object]:
    url = urlsplit(creds.url.removeprefix("jdbc:"))
    if url.scheme != "postgresql" or not url.hostname:
        raise ValueError(f"not a PostgreSQL JDBC URL: {url.scheme}://{url.hostname}")
    return {"host": url.hostname, "port": url.port or 5432, "dbname": url.path.lstrip("/")}


@contextmanager
def exported_snapshot(creds: JdbcCredentials) -> Iterator[str | None]:
    """The id of a snapshot of the source, valid inside the block. None (and a warning) where no
    PostgreSQL driver is installed next to the job: the reads then each see their own moment."""
    try:
        import psycopg
    except ImportError:
        log.warning("psycopg is not installed: this extract's reads do not share one snapshot")
        yield None
        return
    with psycopg.connect(**connect_args(creds), user=creds.user, password=creds.password) as conn:  # type: ignore[arg-type]
        conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        row = conn.execute("SELECT pg_export_snapshot()").fetchone()
        assert row is not None
        try:
            yield str(row[0])
        finally:
            with suppress(psycopg.Error):  # a source that went away: the reads' own error says so
                conn.rollback()
