"""The CDC DAG's last task: the replication slots checked against ``cdc.max_retained_mb`` and
``cdc.max_lag_minutes``.

A slot the CDC runs do not confirm (a table failing every run, a paused DAG now resumed, a slot
dropped or invalidated by ``max_slot_wal_keep_size``) makes the source keep its WAL until the disk
fills, or loses the changes. The check fails naming each such slot and what to do, so the
pipeline's failure alert (webhook / e-mail) and the monitor report it; ``/metrics`` shows the same
figures between runs (``lakehouse_cdc_slot_retained_bytes``, ``lakehouse_cdc_lag_seconds``,
``lakehouse_cdc_slot_usable``).
"""

from __future__ import annotations

from typing import Any

from airflow.sdk import BaseOperator, Context

from lakehouse_airflow.config import PipelineConfig

CHECK_TASK_ID = "cdc_slots"


class CdcSlotCheckOperator(BaseOperator):
    def __init__(self, *, cfg: PipelineConfig, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.cfg = cfg

    def execute(self, context: Context) -> dict[str, dict[str, float | None]]:
        from lakehouse_airflow.monitor.cdc_slots import read_slot_states, slot_problems

        states = read_slot_states(self.cfg)
        for s in states:
            self.log.info("%s: slot %s usable=%s retained=%s bytes lag=%s s", s.table, s.slot, s.usable,
                          s.retained_bytes, None if s.lag_seconds is None else round(s.lag_seconds))  # fmt: skip
        lag_limit = self.cfg.cdc.max_lag_minutes
        problems = slot_problems(states, self.cfg.cdc.max_retained_mb * 2**20, lag_limit * 60 if lag_limit else None)
        if problems:
            raise RuntimeError("replication slots need attention:\n" + "\n".join(problems))
        return {s.table: {"retained_bytes": s.retained_bytes, "lag_seconds": s.lag_seconds} for s in states}
