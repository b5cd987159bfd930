"""One load of a bronze table at a time: a lease held from extract to the end of write_bronze.

Two runs loading the same table at once (a manual trigger while a backfill runs it, the same table
in two DAGs over one lakehouse) would share its landing folder and race on its slice. ``extract``
takes the table's lease (a file created exclusively under ``_control/leases``) before it reads;
``write_bronze`` gives it back after its commit; ``audit``, which runs whatever happened upstream,
gives it back when the chain failed. A run that finds the lease held by another run fails at once
with ``TableBusyError`` naming the holder, having read and written nothing; the task's retry tries
again later. A retry of the holder's own chain keeps the lease. A lease older than ``LEASE_TTL``
(its run died without reaching audit) is taken over, with a warning.

Exclusive creation is ``os.link`` of a written temporary file (atomic on a local or FUSE-mounted
file system: the project's lakehouse root, ``/Volumes`` on Databricks).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from lakehouse_contract.layout import lease_path
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import TableBusyError

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


def _path(ctx: RunContext) -> Path:
    return Path(lease_path(ctx.root, ctx.table))


def _read(path: Path) -> Lease | None:
    try:
        return Lease(**json.loads(path.read_text()))
    except FileNotFoundError:
        return None


def _written(ctx: RunContext, path: Path, now: dt.datetime) -> Path:
    lease = Lease(ctx.dag_id, ctx.run_id, ctx.task_id, now.isoformat(), (now + LEASE_TTL).isoformat())
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}")
    tmp.write_text(json.dumps(asdict(lease)))
    return tmp


def acquire(ctx: RunContext, log: logging.Logger) -> None:
    """Take the table's lease for this run (or keep it: a retry of this run's chain)."""
    path = _path(ctx)
    path.parent.mkdir(parents=True, exist_ok=True)
    for _ in range(3):
        now = dt.datetime.now(dt.UTC)
        tmp = _written(ctx, path, now)
        try:
            os.link(tmp, path)  # fails if the lease exists
            return
        except FileExistsError:
            held = _read(path)
            if held is None:
                continue  # released in between: try again
            if held.held_by(ctx):
                os.replace(tmp, path)  # our own chain's retry: renew
                return
            if not held.expired(now):
                raise TableBusyError(
                    f"table {ctx.table} is being loaded by run {held.run_id} of {held.dag_id} ({held.task_id} "
                    f"took it at {held.acquired_at}; it lapses at {held.expires_at}): nothing was read; "
                    "the retry tries again after that load's write_bronze or audit (if that run is gone, "
                    f"delete {path})"
                ) from None
            stale = path.with_name(f".{path.name}.expired-{uuid.uuid4().hex}")
            try:
                os.rename(path, stale)  # one taker wins; the others see the file gone or renewed
            except FileNotFoundError:
                continue
            stale.unlink()
            log.warning("%s: took over the lease of run %s (lapsed at %s)", ctx.table, held.run_id, held.expires_at)
        finally:
            tmp.unlink(missing_ok=True)
    raise TableBusyError(f"table {ctx.table}: its lease changed hands three times while this run tried to take it")


def release(ctx: RunContext, log: logging.Logger) -> bool:
    """Give the lease back if this run holds it; another run's lease is left alone."""
    path = _path(ctx)
    held = _read(path)
    if held is None or not held.held_by(ctx):
        return False
    path.unlink(missing_ok=True)
    log.info("%s: lease released", ctx.table)
    return True
