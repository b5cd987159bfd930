"""Prometheus metrics of the lakehouse, read from the ETL monitor on every scrape (the CDC tables'
replication slots: from their sources, ``monitor/cdc_slots.py``)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from lakehouse_airflow.config import PipelineConfig
from lakehouse_airflow.monitor.cdc_slots import slot_states
from lakehouse_airflow.monitor.store import MonitorStore

# per table and layer: the latest run in which the layer's tasks for the table succeeded
LATEST_BY_TABLE = """
WITH latest AS (
    SELECT DISTINCT ON (workflow_id, table_name, layer) workflow_id, table_name, layer, run_id
    FROM __SCHEMA__.processing_steps WHERE status = 'DONE'
    ORDER BY workflow_id, table_name, layer, end_time DESC
)
SELECT s.workflow_id, s.table_name, s.layer, max(s.rows_read), max(s.rows_written), max(s.rows_quarantined),
       max(s.dq_score), sum(extract(epoch FROM s.end_time - s.start_time))
FROM __SCHEMA__.processing_steps s JOIN latest USING (workflow_id, table_name, layer, run_id)
GROUP BY s.workflow_id, s.table_name, s.layer
ORDER BY 1, 3, 2
"""
FRESHNESS = """
SELECT workflow_id, table_name, extract(epoch FROM now() - date_value)
FROM __SCHEMA__.parameter_registry WHERE param_type = 'DELTA_DATE' AND date_value IS NOT NULL
ORDER BY 1, 2
"""
OUTCOMES = """
SELECT r.workflow_id, coalesce(c.table_name, ''), coalesce(c.layer, ''), r.event, count(*)
FROM __SCHEMA__.run_receipts r
LEFT JOIN __SCHEMA__.task_catalogue c USING (workflow_id, task_id)
WHERE r.event IN ('task_success', 'task_failed', 'task_up_for_retry')
GROUP BY 1, 2, 3, 4 ORDER BY 1, 2, 3, 4
"""
RUNS = """
SELECT workflow_id, state, count(*), count(*) FILTER (WHERE deadline_breached)
FROM __SCHEMA__.process_runs GROUP BY 1, 2 ORDER BY 1, 2
"""
# the data age a restore would bring back (RPO): the newest restore point, the newest with a verified replica
RESTORE_POINTS = """
SELECT workflow_id, extract(epoch FROM now() - max(taken_at)),
       extract(epoch FROM now() - max(taken_at) FILTER (WHERE replicated_at IS NOT NULL))
FROM __SCHEMA__.restore_points GROUP BY 1 ORDER BY 1
"""
LABELS = ["dag_id", "table", "layer"]


class MonitorCollector(Collector):
    def __init__(self, stores: Iterable[MonitorStore], pipelines: Iterable[PipelineConfig] = ()) -> None:
        self.stores = list(stores)
        # their CDC tables' slots are read from the sources (each pipeline once: several DAG ids map to it)
        self.pipelines = list({cfg.dag_id: cfg for cfg in pipelines}.values())

    def collect(self) -> Iterator[Metric]:
        gauges = {
            "rows_read": GaugeMetricFamily("lakehouse_rows_read", "Rows read by the latest successful load", labels=LABELS),
            "rows_written": GaugeMetricFamily("lakehouse_rows_written", "Rows written by the latest successful load", labels=LABELS),
            "rows_quarantined": GaugeMetricFamily("lakehouse_rows_quarantined", "Rows quarantined by the latest successful load", labels=LABELS),
            "dq_score": GaugeMetricFamily("lakehouse_dq_score", "Data-quality score (share of rows passing) of the latest load", labels=LABELS),
            "seconds": GaugeMetricFamily("lakehouse_duration_seconds", "Task seconds of the latest successful load", labels=LABELS),
        }  # fmt: skip
        lag = GaugeMetricFamily(
            "lakehouse_freshness_lag_seconds", "Seconds since the last successful bronze load (now - watermark)",
            labels=["dag_id", "table"],
        )  # fmt: skip
        outcomes = CounterMetricFamily(
            "lakehouse_task_outcomes", "Task attempts ended, by outcome", labels=[*LABELS, "outcome"]
        )
        runs = CounterMetricFamily("lakehouse_runs", "Pipeline runs, by state", labels=["dag_id", "state"])
        breaches = CounterMetricFamily("lakehouse_run_deadline_breaches", "Runs over their deadline", labels=["dag_id"])
        breached: dict[str, int] = {}
        for store in self.stores:
            _, rows = store.query(LATEST_BY_TABLE)
            for dag_id, table, layer, read, written, quarantined, score, seconds in rows:
                labels = [dag_id, table, layer]
                for key, value in (("rows_read", read), ("rows_written", written), ("rows_quarantined", quarantined),
                                   ("dq_score", score), ("seconds", seconds)):  # fmt: skip
                    if value is not None:
                        gauges[key].add_metric(labels, float(value))
            for dag_id, table, seconds in store.query(FRESHNESS)[1]:
                lag.add_metric([dag_id, table], float(seconds))
            for dag_id, table, layer, event, count in store.query(OUTCOMES)[1]:
                outcome = "success" if event == "task_success" else "failure"
                outcomes.add_metric([dag_id, table, layer, outcome], float(count))
            for dag_id, state, count, over in store.query(RUNS)[1]:
                runs.add_metric([dag_id, state.lower()], float(count))
                breached[dag_id] = breached.get(dag_id, 0) + int(over)
        for dag_id, count in breached.items():
            breaches.add_metric([dag_id], float(count))
        yield from (*gauges.values(), lag, outcomes, runs, breaches)
        yield from self._restore_points()
        yield from self._cdc_slots()

    def _cdc_slots(self) -> Iterator[Metric]:
        retained = GaugeMetricFamily(
            "lakehouse_cdc_slot_retained_bytes",
            "WAL the source keeps for a CDC table's replication slot (current position - confirmed position)",
            labels=["dag_id", "table"],
        )
        lag = GaugeMetricFamily(
            "lakehouse_cdc_lag_seconds",
            "Seconds since the extract of a CDC table's newest confirmed run started: the oldest a change missing "
            "from bronze can be",
            labels=["dag_id", "table"],
        )
        usable = GaugeMetricFamily(
            "lakehouse_cdc_slot_usable", "1 when the CDC table's slot exists and has its WAL (0: re-snapshot)",
            labels=["dag_id", "table"],
        )  # fmt: skip
        for cfg in self.pipelines:
            for state in slot_states(cfg):
                usable.add_metric([state.dag_id, state.table], 1.0 if state.usable else 0.0)
                if state.retained_bytes is not None:
                    retained.add_metric([state.dag_id, state.table], float(state.retained_bytes))
                if state.lag_seconds is not None:
                    lag.add_metric([state.dag_id, state.table], state.lag_seconds)
        yield from (retained, lag, usable)

    def _restore_points(self) -> Iterator[Metric]:
        point_age = GaugeMetricFamily(
            "lakehouse_restore_point_age_seconds", "Seconds since the newest restore point was taken", labels=["dag_id"]
        )
        replica_age = GaugeMetricFamily(
            "lakehouse_replica_age_seconds", "Seconds since the newest restore point with a verified replica was taken",
            labels=["dag_id"],
        )  # fmt: skip
        for store in self.stores:
            for dag_id, point, replica in store.query(RESTORE_POINTS)[1]:
                point_age.add_metric([dag_id], float(point))
                if replica is not None:
                    replica_age.add_metric([dag_id], float(replica))
        yield from (point_age, replica_age)


def render(stores: Iterable[MonitorStore], pipelines: Iterable[PipelineConfig] = ()) -> bytes:
    """The Prometheus text exposition of the monitor's metrics (and of the pipelines' CDC slots)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(MonitorCollector(stores, pipelines))
    return generate_latest(registry)
