"""The CDC tables' replication slots, read live from each source on every scrape.

A slot keeps the source's WAL from its confirmed position on: a CDC DAG that stops (paused,
failing) makes the source's disk fill. The job's own step results cannot show that -- no job
runs -- so ``/metrics`` asks the source itself: the bytes each slot holds back, and whether the
slot still exists and still has its WAL (``wal_status`` not ``lost``).

The lag in seconds comes from the ETL monitor, not from the slot (reading a slot's changes would
take it from the CDC job that owns it): the extract of a table's newest CDC run whose bronze commit
succeeded (and so confirmed the slot) read every change committed before it started, so
``now - that start`` bounds how old the newest change missing from bronze can be.
"""

from __future__ import annotations

import logging
from contextlib import closing
from dataclasses import dataclass

from airflow.providers.postgres.hooks.postgres import PostgresHook

from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.config.sources import SourceConfig
from lakehouse_airflow.describe.parts import cdc_dag_id
from lakehouse_airflow.monitor.store import MonitorStore
from lakehouse_contract.naming import cdc_slot
from lakehouse_contract.specs import ExtractCdcSpec, WriteBronzeSpec

log = logging.getLogger(__name__)
READ_STEP, WRITE_STEP = ExtractCdcSpec.step, WriteBronzeSpec.step  # also their task ids in the table's group
SLOTS = """
SELECT slot_name, wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
FROM pg_replication_slots WHERE slot_name = ANY(%s)
"""

# per table: the start of the extract of its newest run whose write_bronze ended DONE
CAPTURED = """
SELECT DISTINCT ON (w.table_name) w.table_name, extract(epoch FROM now() - e.start_time)
FROM __SCHEMA__.processing_steps w
JOIN __SCHEMA__.processing_steps e USING (workflow_id, run_id, table_name)
WHERE w.workflow_id = %(dag_id)s AND w.status = 'DONE'
  AND w.task_id = w.table_name || %(commit)s AND e.task_id = e.table_name || %(read)s AND e.start_time IS NOT NULL
ORDER BY w.table_name, w.end_time DESC
"""


@dataclass(frozen=True)
class SlotState:
    dag_id: str  # the CDC DAG
    table: str
    slot: str
    usable: bool  # the slot exists and has not lost WAL it needs (else: re-snapshot)
    retained_bytes: int | None  # WAL from the confirmed position to the current one
    lag_seconds: float | None = None  # now - the start of the newest confirmed extract (None: none recorded)


def slot_states(cfg: PipelineConfig) -> list[SlotState]:
    """One state per CDC table of ``cfg`` (empty without CDC tables, or when the source is out of reach)."""
    try:
        return read_slot_states(cfg)
    except Exception as exc:  # the scrape goes on without them
        log.warning("replication slots of %s unreadable: %s", cfg.dag_id, type(exc).__name__)
        return []


def read_slot_states(cfg: PipelineConfig) -> list[SlotState]:
    """One state per CDC table of ``cfg``; an unreachable source raises."""
    names = {cdc_slot(cfg.dag_id, t.name): t.name for t in cfg.cdc_tables()}
    if not names or not isinstance(cfg.source, SourceConfig):
        return []
    lags = captured_lags(cfg)
    conn = PostgresHook(postgres_conn_id=cfg.source.conn_id).get_conn()
    with closing(conn), conn.cursor() as cur:
        cur.execute(SLOTS, (list(names),))
        found = {row[0]: row for row in cur.fetchall()}
    states = []
    for slot, table in names.items():
        row = found.get(slot)
        usable = row is not None and row[1] != "lost"
        retained = int(row[2]) if row is not None and row[2] is not None else None
        states.append(SlotState(cdc_dag_id(cfg), table, slot, usable, retained, lags.get(table)))
    return states


def captured_lags(cfg: PipelineConfig) -> dict[str, float]:
    """Per CDC table with a confirmed run in the ETL monitor: seconds since its extract started
    (empty when the monitor is off or out of reach: the slot's bytes still tell)."""
    if not cfg.monitor.enabled:
        return {}
    params = {"dag_id": cdc_dag_id(cfg), "commit": f".{WRITE_STEP}", "read": f".{READ_STEP}"}
    try:
        _, rows = MonitorStore(cfg.monitor.conn_id, cfg.monitor.schema_name).query(CAPTURED, params)
    except Exception as exc:
        log.warning("the CDC lag of %s is unknown (ETL monitor unreadable: %s)", cfg.dag_id, type(exc).__name__)
        return {}
    return {table: max(0.0, float(seconds)) for table, seconds in rows}


def slot_problems(states: list[SlotState], max_retained_bytes: int, max_lag_seconds: float | None = None) -> list[str]:
    """What is wrong with the slots, one line each (empty: all fine)."""
    problems = []
    for s in states:
        if not s.usable:
            problems.append(f"{s.table}: slot {s.slot} is missing or lost its WAL -- re-snapshot the table "
                            "(trigger the CDC DAG with mode=full for it)")  # fmt: skip
        elif s.retained_bytes is not None and s.retained_bytes > max_retained_bytes:
            problems.append(f"{s.table}: slot {s.slot} holds back {s.retained_bytes / 2**20:.1f} MiB of WAL "
                            f"(limit {max_retained_bytes / 2**20:.0f} MiB): its changes are not being confirmed")  # fmt: skip
        if s.usable and max_lag_seconds is not None and s.lag_seconds is not None and s.lag_seconds > max_lag_seconds:
            problems.append(f"{s.table}: bronze may miss the changes of the last {s.lag_seconds / 60:.0f} min "
                            f"(limit {max_lag_seconds / 60:.0f} min): no CDC run has confirmed slot {s.slot} "
                            "since -- see the table's failed tasks in the CDC DAG")  # fmt: skip
    return problems
