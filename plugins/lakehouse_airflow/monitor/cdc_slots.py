"""The CDC tables' replication slots, read live from each source on every scrape.

A slot keeps the source's WAL from its confirmed position on: a CDC DAG that stops (paused,
failing) makes the source's disk fill. The job's own step results cannot show that -- no job
runs -- so ``/metrics`` asks the source itself: the bytes each slot holds back, and whether the
slot still exists and still has its WAL (``wal_status`` not ``lost``).
"""

from __future__ import annotations

import logging
from contextlib import closing
from dataclasses import dataclass

from airflow.providers.postgres.hooks.postgres import PostgresHook

from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.config.sources import SourceConfig
from lakehouse_airflow.describe.parts import cdc_dag_id
from lakehouse_contract.naming import cdc_slot

log = logging.getLogger(__name__)
SLOTS = """
SELECT slot_name, wal_status, pg_wal_lsn_diff(pg_current_wal_lsn(), confirmed_flush_lsn)::bigint
FROM pg_replication_slots WHERE slot_name = ANY(%s)
"""


@dataclass(frozen=True)
class SlotState:
    dag_id: str  # the CDC DAG
    table: str
    slot: str
    usable: bool  # the slot exists and has not lost WAL it needs (else: re-snapshot)
    retained_bytes: int | None  # WAL from the confirmed position to the current one


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
    conn = PostgresHook(postgres_conn_id=cfg.source.conn_id).get_conn()
    with closing(conn), conn.cursor() as cur:
        cur.execute(SLOTS, (list(names),))
        found = {row[0]: row for row in cur.fetchall()}
    states = []
    for slot, table in names.items():
        row = found.get(slot)
        usable = row is not None and row[1] != "lost"
        retained = int(row[2]) if row is not None and row[2] is not None else None
        states.append(SlotState(cdc_dag_id(cfg), table, slot, usable, retained))
    return states


def slot_problems(states: list[SlotState], max_retained_bytes: int) -> list[str]:
    """What is wrong with the slots, one line each (empty: all fine)."""
    problems = []
    for s in states:
        if not s.usable:
            problems.append(f"{s.table}: slot {s.slot} is missing or lost its WAL -- re-snapshot the table "
                            "(trigger the CDC DAG with mode=full for it)")  # fmt: skip
        elif s.retained_bytes is not None and s.retained_bytes > max_retained_bytes:
            problems.append(f"{s.table}: slot {s.slot} holds back {s.retained_bytes / 2**20:.1f} MiB of WAL "
                            f"(limit {max_retained_bytes / 2**20:.0f} MiB): its changes are not being confirmed")  # fmt: skip
    return problems
