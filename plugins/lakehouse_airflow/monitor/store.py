"""Reads and writes of the ETL monitor (PostgreSQL through the postgres provider's hook).

Every write is one short transaction; the tables are created on first use (idempotent, under an
advisory lock, skipped while the schema's DDL fingerprint is current).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import socket
from collections.abc import Iterator, Sequence
from contextlib import closing, contextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any

from airflow.providers.postgres.hooks.postgres import PostgresHook

from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.monitor.catalogue import catalogue, is_maintenance, parameters

STATUSES = ("NQUE", "RQUE", "DONE", "FAIL", "SKIP")
_LOCK_KEY = 0x1A4E_0E7C  # pg_advisory_xact_lock key of the monitor's DDL
_ready: set[tuple[str, str]] = set()  # (conn_id, schema) set up by this process


def ddl(schema: str) -> str:
    text = resources.files("lakehouse_airflow.monitor").joinpath("schema.sql").read_text()
    return text.replace("__SCHEMA__", schema)


@dataclass(frozen=True)
class RunInfo:
    dag_id: str
    run_id: str
    processing_date: dt.date
    processing_mode: str  # LIVE | HISTORIC | BULK
    run_type: str | None = None


def processing_mode(
    run_type: str | None,
    requested_mode: str | None,
    interval: tuple[dt.datetime, dt.datetime] | None = None,
    run_after: dt.datetime | None = None,
) -> str:
    """BULK for a full reload (params.mode=full); HISTORIC for a backfill or a run of a past
    processing date (its data interval ended more than one interval before the run was due);
    else LIVE (the scheduled run, or a trigger for the latest interval)."""
    if requested_mode == "full":
        return "BULK"
    if run_type and "backfill" in run_type.lower():
        return "HISTORIC"
    if interval and run_after and run_after - interval[1] > interval[1] - interval[0]:
        return "HISTORIC"
    return "LIVE"


class MonitorStore:
    def __init__(self, conn_id: str, schema: str) -> None:
        self.conn_id = conn_id
        self.schema = schema

    @contextmanager
    def cursor(self) -> Iterator[Any]:
        conn = PostgresHook(postgres_conn_id=self.conn_id).get_conn()
        with closing(conn):
            with conn, conn.cursor() as cur:  # commit on success, roll back on error
                yield cur

    # -- set-up and registration ---------------------------------------------------------------

    def setup(self) -> None:
        key = (self.conn_id, self.schema)
        if key in _ready:
            return
        text = ddl(self.schema)
        fingerprint = hashlib.sha256(text.encode()).hexdigest()[:16]
        with self.cursor() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_KEY,))
            cur.execute(
                "SELECT obj_description(oid, 'pg_namespace') FROM pg_namespace WHERE nspname = %s", (self.schema,)
            )
            found = cur.fetchone()
            if not found or found[0] != f"etl monitor {fingerprint}":
                cur.execute(text)
                cur.execute(f"COMMENT ON SCHEMA {self.schema} IS 'etl monitor {fingerprint}'")  # hex: no quoting
        _ready.add(key)

    def register(self, cfg: PipelineConfig, dag_id: str | None = None) -> None:
        """Upsert the process (the pipeline's DAG, or ``dag_id``: its maintenance DAG), its task
        catalogue (tasks gone from the config turn inactive) and its parameters (values already
        set are kept)."""
        s, m = self.schema, cfg.monitor
        dag_id = dag_id or cfg.dag_id
        maintenance = is_maintenance(cfg, dag_id)
        tasks = catalogue(cfg, dag_id)
        name = f"Delta maintenance of {cfg.dag_id}" if maintenance else cfg.description or cfg.dag_id
        frequency, schedule = ("WEEKLY", cfg.maintenance.schedule) if maintenance else (m.frequency, cfg.schedule)
        with self.cursor() as cur:
            cur.execute(
                f"""INSERT INTO {s}.process_registry AS p (workflow_id, project_code, process_load, process_name,
                        owner, frequency, schedule, timezone)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (workflow_id) DO UPDATE SET project_code = excluded.project_code,
                        process_load = excluded.process_load, process_name = excluded.process_name,
                        owner = excluded.owner, frequency = excluded.frequency, schedule = excluded.schedule,
                        timezone = excluded.timezone, updated_at = now()""",
                (dag_id, m.project_code, f"{m.process_load}_maintenance" if maintenance else m.process_load, name,
                 cfg.owner, frequency, schedule, cfg.timezone),
            )  # fmt: skip
            cur.executemany(
                f"""INSERT INTO {s}.task_catalogue (workflow_id, task_id, task_name, sequence_id, stage, layer,
                        table_name, step, mandatory, sla_minutes, active)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, true)
                    ON CONFLICT (workflow_id, task_id) DO UPDATE SET task_name = excluded.task_name,
                        sequence_id = excluded.sequence_id, stage = excluded.stage, layer = excluded.layer,
                        table_name = excluded.table_name, step = excluded.step, mandatory = excluded.mandatory,
                        sla_minutes = excluded.sla_minutes, active = true, updated_at = now()""",
                [(dag_id, t.task_id, t.task_name, t.sequence_id, t.stage, t.layer, t.table_name, t.step,
                  t.mandatory, t.sla_minutes) for t in tasks],
            )  # fmt: skip
            cur.execute(
                f"""UPDATE {s}.task_catalogue SET active = false, updated_at = now()
                    WHERE workflow_id = %s AND active AND NOT (task_id = ANY(%s))""",
                (dag_id, [t.task_id for t in tasks]),
            )
            if maintenance:
                return
            cur.executemany(
                f"""INSERT INTO {s}.parameter_registry (workflow_id, param_name, param_type, table_name, task_id,
                        text_value, flag_value, id_value)
                    VALUES (%s, %s, %s, %s, %s, %s, %s, %s)
                    ON CONFLICT (workflow_id, param_name) DO UPDATE SET param_type = excluded.param_type,
                        table_name = excluded.table_name, task_id = excluded.task_id,
                        text_value = CASE WHEN excluded.param_type = 'SYSTEM' THEN excluded.text_value
                                          ELSE {s}.parameter_registry.text_value END""",
                [(cfg.dag_id, p.name, p.param_type, p.table_name, p.task_id, p.text_value, p.flag_value,
                  0 if p.param_type == "DELTA_ID" else None) for p in parameters(cfg)],
            )  # fmt: skip

    # -- runs -------------------------------------------------------------------------------------

    def start_run(self, run: RunInfo, restart: bool = False) -> bool:
        """Record the run and queue (NQUE) every active catalogue task for it; idempotent.
        ``restart`` (the run is running again, e.g. after a clear) reopens a finished run.
        Returns whether the run is new."""
        s = self.schema
        with self.cursor() as cur:
            cur.execute(
                f"""INSERT INTO {s}.process_runs (workflow_id, run_id, processing_date, processing_mode, run_type)
                    VALUES (%s, %s, %s, %s, %s) ON CONFLICT (workflow_id, run_id) DO NOTHING RETURNING 1""",
                (run.dag_id, run.run_id, run.processing_date, run.processing_mode, run.run_type),
            )
            new = cur.fetchone() is not None
            if new:
                cur.execute(
                    f"""UPDATE {s}.parameter_registry SET id_value = coalesce(id_value, 0) + 1, updated_at = now()
                        WHERE workflow_id = %s AND param_type = 'DELTA_ID' AND param_name = 'run_sequence'""",
                    (run.dag_id,),
                )
                cur.execute(
                    f"""UPDATE {s}.parameter_registry SET flag_value = %s, updated_at = now()
                        WHERE workflow_id = %s AND param_name = 'bulk_reload'""",
                    (run.processing_mode == "BULK", run.dag_id),
                )
            elif restart:
                cur.execute(
                    f"""UPDATE {s}.process_runs SET state = 'RUNNING', ended_at = NULL
                        WHERE workflow_id = %s AND run_id = %s""",
                    (run.dag_id, run.run_id),
                )
            cur.execute(
                f"""INSERT INTO {s}.processing_steps (workflow_id, run_id, task_id, processing_date, task_name,
                        sequence_id, stage, layer, table_name, mandatory, sla_minutes)
                    SELECT workflow_id, %s, task_id, %s, task_name, sequence_id, stage, layer, table_name,
                           mandatory, sla_minutes
                    FROM {s}.task_catalogue WHERE workflow_id = %s AND active
                    ON CONFLICT (workflow_id, run_id, task_id) DO NOTHING""",
                (run.run_id, run.processing_date, run.dag_id),
            )
        return new

    def finish_run(self, dag_id: str, run_id: str, state: str) -> None:
        with self.cursor() as cur:
            cur.execute(
                f"""UPDATE {self.schema}.process_runs SET state = %s, ended_at = now()
                    WHERE workflow_id = %s AND run_id = %s""",
                (state, dag_id, run_id),
            )

    def breach_deadline(self, dag_id: str, run_id: str, minutes: int) -> bool:
        """Mark the run as over its deadline if it has run longer than ``minutes`` (up to now, or
        to its end). True only for the call that marked it: alert once."""
        with self.cursor() as cur:
            cur.execute(
                f"""UPDATE {self.schema}.process_runs SET deadline_breached = true, deadline_minutes = %s
                    WHERE workflow_id = %s AND run_id = %s AND NOT deadline_breached
                      AND coalesce(ended_at, now()) - started_at > make_interval(mins => %s::integer)
                    RETURNING 1""",
                (minutes, dag_id, run_id, minutes),
            )
            return cur.fetchone() is not None

    def write_summary(self, dag_id: str, run_id: str, try_number: int, summary: dict[str, Any]) -> None:
        """The run's summary row (a re-run of the summary replaces it: one row per run)."""
        keys = ("tables_processed", "tables_succeeded", "tables_failed", "gold_failed", "total_rows", "total_seconds")
        with self.cursor() as cur:
            cur.execute(
                f"""INSERT INTO {self.schema}.run_summary (workflow_id, run_id, try_number, {", ".join(keys)})
                    VALUES (%s, %s, %s, {", ".join(["%s"] * len(keys))})
                    ON CONFLICT (workflow_id, run_id) DO UPDATE SET try_number = excluded.try_number,
                        {", ".join(f"{k} = excluded.{k}" for k in keys)}, written_at = now()""",
                (dag_id, run_id, try_number, *(summary[k] for k in keys)),
            )

    # -- tasks ------------------------------------------------------------------------------------

    def receipt(self, run: tuple[str, str], task_id: str | None, try_number: int | None, event: str,
                state: str | None, message: str | None = None, step_status: str | None = None) -> None:  # fmt: skip
        with self.cursor() as cur:
            cur.execute(
                f"""INSERT INTO {self.schema}.run_receipts (workflow_id, run_id, task_id, try_number, event, state,
                        step_status, hostname, message) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                (*run, task_id, try_number, event, state, step_status, socket.gethostname(), message),
            )

    def task_started(self, run: tuple[str, str], task_id: str, try_number: int, started: dt.datetime) -> str | None:
        """A (re)started attempt: a failed or finished task is re-queued (RQUE) until it ends.
        Returns the step's status (None: not a catalogued task)."""
        with self.cursor() as cur:
            cur.execute(
                f"""UPDATE {self.schema}.processing_steps
                    SET status = CASE WHEN status IN ('FAIL', 'DONE', 'SKIP') THEN 'RQUE' ELSE status END,
                        attempt_count = %s, start_time = %s, end_time = NULL, updated_at = now()
                    WHERE workflow_id = %s AND run_id = %s AND task_id = %s
                    RETURNING status""",
                (try_number, started, *run, task_id),
            )
            row = cur.fetchone()
        return None if row is None else str(row[0])

    def task_ended(
        self,
        run: tuple[str, str],
        task_id: str,
        try_number: int,
        status: str,
        message: str | None = None,
        metrics: dict[str, Any] | None = None,
    ) -> str | None:
        """The attempt ended as ``status``; DONE advances the task's DELTA_DATE parameters to the
        attempt's start. Returns the status (None: not a catalogued task)."""
        if status not in STATUSES:
            raise ValueError(f"unknown monitor status {status!r}")
        m = metrics or {}
        s = self.schema
        with self.cursor() as cur:
            cur.execute(
                f"""UPDATE {s}.processing_steps
                    SET status = %s, attempt_count = greatest(attempt_count, %s), end_time = now(),
                        start_time = coalesce(start_time, now()), message = %s,
                        rows_read = %s, rows_written = %s, rows_quarantined = %s, dq_score = %s, updated_at = now()
                    WHERE workflow_id = %s AND run_id = %s AND task_id = %s
                    RETURNING start_time""",
                (status, try_number, message, m.get("rows_read"), m.get("rows_written"),
                 m.get("rows_quarantined"), m.get("dq_score"), *run, task_id),
            )  # fmt: skip
            row = cur.fetchone()
            if status == "DONE" and row is not None:
                cur.execute(
                    f"""UPDATE {s}.parameter_registry SET date_value = %s, updated_at = now()
                        WHERE workflow_id = %s AND task_id = %s AND param_type = 'DELTA_DATE'""",
                    (row[0], run[0], task_id),
                )
        return None if row is None else status

    # -- restore points (monitor/restore_points.py) ----------------------------------------------

    def add_restore_point(self, workflow_id: str, point_id: str, taken_at: str, root: str,
                          versions: dict[str, int], taken_by: str) -> None:  # fmt: skip
        with self.cursor() as cur:
            cur.execute(
                f"""INSERT INTO {self.schema}.restore_points
                        (workflow_id, point_id, taken_at, lakehouse_root, tables, versions, taken_by)
                    VALUES (%s, %s, %s, %s, %s, %s, %s) ON CONFLICT (workflow_id, point_id) DO NOTHING""",
                (workflow_id, point_id, taken_at, root, len(versions), json.dumps(versions, sort_keys=True), taken_by),
            )

    def restore_point_replicated(self, workflow_id: str, point_id: str, replica: str, rows_verified: int) -> bool:
        with self.cursor() as cur:
            cur.execute(
                f"""UPDATE {self.schema}.restore_points
                    SET replica_root = %s, replicated_at = now(), rows_verified = %s
                    WHERE workflow_id = %s AND point_id = %s""",
                (replica, rows_verified, workflow_id, point_id),
            )
            return bool(cur.rowcount)

    def restore_point_restored(self, workflow_id: str, point_id: str) -> bool:
        with self.cursor() as cur:
            cur.execute(
                f"UPDATE {self.schema}.restore_points SET restored_at = now() WHERE workflow_id = %s AND point_id = %s",
                (workflow_id, point_id),
            )
            return bool(cur.rowcount)

    # -- reads ------------------------------------------------------------------------------------

    def query(self, sql: str, params: Sequence[Any] | dict[str, Any] = ()) -> tuple[list[str], list[tuple[Any, ...]]]:
        with self.cursor() as cur:
            cur.execute(sql.replace("__SCHEMA__", self.schema), params)
            return [d[0] for d in cur.description], list(cur.fetchall())
