"""One load of a bronze table at a time: a lease held from extract to the end of write_bronze.

Two runs loading the same table at once (a manual trigger while a backfill runs it, the same table
in two DAGs over one lakehouse) would share its landing folder and race on its slice. ``extract``
takes the table's lease (a file created exclusively under ``_control/leases``) before it reads;
``write_bronze`` gives it back after its commit; ``audit``, which runs whatever happened upstream,
gives it back when the chain failed. A run that finds the lease held by another run fails at once
with ``TableBusyError`` naming the holder, having read and written nothing; the task's retry tries
again later. A retry of the holder's own chain keeps the lease. A lease older than ``LEASE_TTL``
(its run died without reaching audit) is taken over, with a warning.

Exclusive creation goes through ``storage.files``: ``os.link`` on a local or FUSE-mounted file
system (the project's lakehouse root, ``/Volumes`` on Databricks), a conditional PUT
(``If-None-Match: *``) on an object store; renewing and taking over compare the version read
(``If-Match`` on the object's ETag), so of two runs racing for a lapsed lease exactly one wins.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from dataclasses import asdict, dataclass

from lakehouse_contract.layout import lease_path
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import TableBusyError
from spark_jobs.storage.files import Files, files_for

LEASE_TTL = dt.timedelta(hours=6)


@dataclass(frozen=True)
class Lease:
    dag_id: str
    run_id: str
    task_id: str
    acquired_at: str  # ISO, UTC
    expires_at: str

    def held_by(self, ctx: RunContext) -> bool:
        return (self.dag_id, self.run_id) == (ctx.dag_id, ctx.run_id)

    def expired(self, now: dt.datetime) -> bool:
        return dt.datetime.fromisoformat(self.expires_at) <= now


def _read(files: Files, path: str) -> tuple[Lease, str] | None:
    found = files.read(path)
    return None if found is None else (Lease(**json.loads(found[0])), found[1])


def _document(ctx: RunContext, now: dt.datetime) -> str:
    lease = Lease(ctx.dag_id, ctx.run_id, ctx.task_id, now.isoformat(), (now + LEASE_TTL).isoformat())
    return json.dumps(asdict(lease))


def acquire(ctx: RunContext, log: logging.Logger) -> None:
    """Take the table's lease for this run (or keep it: a retry of this run's chain)."""
    path, files = lease_path(ctx.root, ctx.table), files_for(ctx.root)
    for _ in range(3):
        now = dt.datetime.now(dt.UTC)
        document = _document(ctx, now)
        if files.create_exclusive(path, document):
            return
        found = _read(files, path)
        if found is None:
            continue  # released in between: try again
        held, version = found
        if held.held_by(ctx):
            if files.replace_if(path, document, version):  # our own chain's retry: renew
                return
            continue
        if not held.expired(now):
            raise TableBusyError(
                f"table {ctx.table} is being loaded by run {held.run_id} of {held.dag_id} ({held.task_id} "
                f"took it at {held.acquired_at}; it lapses at {held.expires_at}): nothing was read; "
                "the retry tries again after that load's write_bronze or audit (if that run is gone, "
                f"delete {path})"
            )
        if files.delete_if(path, version):  # one taker wins; the others see it gone or renewed
            log.warning("%s: took over the lease of run %s (lapsed at %s)", ctx.table, held.run_id, held.expires_at)
    raise TableBusyError(f"table {ctx.table}: its lease changed hands three times while this run tried to take it")


def release(ctx: RunContext, log: logging.Logger) -> bool:
    """Give the lease back if this run holds it; another run's lease is left alone."""
    path, files = lease_path(ctx.root, ctx.table), files_for(ctx.root)
    found = _read(files, path)
    if found is None or not found[0].held_by(ctx):
        return False
    files.delete_if(path, found[1])
    log.info("%s: lease released", ctx.table)
    return True
