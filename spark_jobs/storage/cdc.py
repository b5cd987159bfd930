"""Change data capture from PostgreSQL logical replication: publication, slot, snapshot, changes.

One publication and one logical replication slot (plugin ``pgoutput``) per CDC table, named by
``lakehouse_contract.naming.cdc_slot``. The slot is created through a replication connection with
an exported snapshot: the table read in that snapshot plus every change after the slot's
consistent point is the table, with nothing missed and nothing twice. Changes are *peeked*
(``pg_logical_slot_peek_binary_changes``: the slot does not move) and the slot is confirmed
(``pg_replication_slot_advance``) only by write_bronze, after the bronze commit holding them: a
crash anywhere in between re-reads the same changes, and write_bronze keeps only those newer than
the bronze table's last commit LSN.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from lakehouse_contract.naming import CDC_LSN
from spark_jobs.runtime.errors import CdcSetupError
from spark_jobs.storage.pgoutput import Decoder, int_to_lsn, lsn_to_int
from spark_jobs.storage.secrets import JdbcCredentials
from spark_jobs.storage.snapshot import connect_args
from spark_jobs.storage.tables import TableRef

log = logging.getLogger("spark_jobs")


def _psycopg() -> Any:
    try:
        import psycopg
    except ImportError:
        raise CdcSetupError("change data capture needs the psycopg package next to the job") from None
    return psycopg


def connect(creds: JdbcCredentials, replication: bool = False) -> Any:
    extra = {"replication": "database"} if replication else {}
    return _psycopg().connect(**connect_args(creds), user=creds.user, password=creds.password, autocommit=True, **extra)


@dataclass(frozen=True)
class Slot:
    name: str
    confirmed_lsn: int | None  # what the last bronze commit confirmed (None: slot missing)
    active_pid: int | None  # a backend using it right now
    wal_status: str | None  # reserved / extended / unreserved / lost


def check_source(conn: Any) -> None:
    """Logical decoding is on and the role may use it: else a message saying what to change."""
    level = conn.execute("SHOW wal_level").fetchone()[0]
    if level != "logical":
        raise CdcSetupError(
            f"the source runs with wal_level={level}; change data capture needs wal_level=logical "
            "(postgresql.conf, then restart the server)"
        )
    allowed = conn.execute("SELECT rolreplication OR rolsuper FROM pg_roles WHERE rolname = current_user").fetchone()
    if not allowed or not allowed[0]:
        raise CdcSetupError("the source role lacks the REPLICATION attribute (ALTER ROLE ... REPLICATION)")


def ensure_publication(conn: Any, publication: str, source: str) -> None:
    """``CREATE PUBLICATION <publication> FOR TABLE <source>`` unless it exists and covers the table."""
    schema, _, table = source.partition(".")
    exists = conn.execute("SELECT 1 FROM pg_publication WHERE pubname = %s", (publication,)).fetchone()
    if exists is None:
        conn.execute(f'CREATE PUBLICATION "{publication}" FOR TABLE "{schema}"."{table}"')
        return
    covered = conn.execute(
        "SELECT 1 FROM pg_publication_tables WHERE pubname = %s AND schemaname = %s AND tablename = %s",
        (publication, schema, table),
    ).fetchone()
    if covered is None:
        conn.execute(f'ALTER PUBLICATION "{publication}" ADD TABLE "{schema}"."{table}"')


def slot(conn: Any, name: str) -> Slot:
    row = conn.execute(
        "SELECT confirmed_flush_lsn::text, active_pid, wal_status FROM pg_replication_slots WHERE slot_name = %s",
        (name,),
    ).fetchone()
    if row is None:
        return Slot(name, None, None, None)
    return Slot(name, lsn_to_int(row[0]) if row[0] else None, row[1], row[2])


def drop_slot(conn: Any, name: str) -> None:
    if slot(conn, name).confirmed_lsn is not None:
        conn.execute("SELECT pg_drop_replication_slot(%s)", (name,))
        log.warning("replication slot %s dropped (re-snapshot)", name)


@contextmanager
def new_slot(creds: JdbcCredentials, name: str) -> Iterator[tuple[str, int]]:
    """Create the slot; yield (exported snapshot id, consistent point). The snapshot stays importable
    until the block ends (the replication connection must stay idle meanwhile)."""
    with connect(creds, replication=True) as repl:
        row = repl.execute(f'CREATE_REPLICATION_SLOT "{name}" LOGICAL pgoutput EXPORT_SNAPSHOT').fetchone()
        _, consistent_point, snapshot, _ = row
        log.info("replication slot %s created at %s (snapshot %s)", name, consistent_point, snapshot)
        yield str(snapshot), lsn_to_int(str(consistent_point))


def peek(conn: Any, name: str, publication: str, max_changes: int) -> Decoder:
    """The committed transactions after the slot's confirmed position (whole transactions, about
    ``max_changes`` messages at most), decoded; the slot does not move."""
    rows = conn.execute(
        "SELECT data FROM pg_logical_slot_peek_binary_changes(%s::name, NULL, %s::int, "
        "'proto_version', '1', 'publication_names', %s::text)",
        (name, max_changes, publication),
    )
    return Decoder().feed(row[0] for row in rows)


def retained_bytes(conn: Any, name: str) -> int | None:
    """WAL the slot holds back (bytes from its restart point to the current position)."""
    row = conn.execute(
        "SELECT pg_wal_lsn_diff(pg_current_wal_lsn(), restart_lsn)::bigint FROM pg_replication_slots "
        "WHERE slot_name = %s",
        (name,),
    ).fetchone()
    return None if row is None or row[0] is None else int(row[0])


def confirm(conn: Any, name: str, lsn: int) -> bool:
    """Move the slot to ``lsn`` (the end of the last transaction bronze stores; never further, so the
    slot's position never passes what bronze holds); False when it is there already."""
    current = slot(conn, name)
    if current.confirmed_lsn is None:
        raise CdcSetupError(f"replication slot {name} is gone; re-snapshot the table (run it with mode=full)")
    if current.confirmed_lsn >= lsn:
        return False
    conn.execute("SELECT pg_replication_slot_advance(%s, %s::pg_lsn)", (name, int_to_lsn(lsn)))
    return True


def stored_lsn(spark: SparkSession, target: TableRef) -> int | None:
    """The end LSN of the last transaction bronze holds (the snapshot's consistent point at first)."""
    if not target.exists():
        return None
    row = target.read(spark).agg(F.max(CDC_LSN).alias("lsn")).first()
    return None if row is None or row["lsn"] is None else int(row["lsn"])
