"""The main DAG's waits on the pipeline's other DAGs: ``<silver>.cdc_caught_up`` (its gold and
foreign-key checks read the silver tables the ``<dag_id>_cdc`` DAG keeps) and
``<bronze>.hourly_landed`` (the hourly tables' silver reads the bronze the ``<dag_id>_hourly`` DAG
loads); what reads them may run only once those cover the main run's interval.

A completeness check on the tables' Airflow asset events (the committing task emits one per
commit, its run's data interval in the extra): each table needs an event whose interval ends at
or after this run's. A CDC run starts after its interval ends and reads every change committed
before it starts; an hourly run reads every row whose watermark is before its interval's end, from
the mark the last committed run left (an hour that never ran is read by the next one). So such an
event means the table holds all of this run's interval: an hour that has not landed is waited
for, never read as a hole. Until then the sensor waits (reschedule mode: no worker slot held);
after ``cdc.wait_minutes`` / ``hourly.wait_minutes`` it fails naming the tables that are behind
and how far they got.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from airflow.sdk import Asset, BaseSensorOperator, Context
from airflow.sdk.exceptions import AirflowSensorTimeout

from lakehouse_airflow.build.params import skip_unless_selected

RECENT_EVENTS = 50  # the newest events per table looked at (backfills may emit older intervals late)


def latest_interval_end(events: Any) -> dt.datetime | None:
    """The latest data-interval end among asset events (their ``extra``), None when there is none."""
    ends = [
        dt.datetime.fromisoformat(str(e.extra["data_interval_end"]))
        for e in events
        if (e.extra or {}).get("data_interval_end")
    ]
    return max(ends, default=None)


class CaughtUpSensor(BaseSensorOperator):
    ui_color = "#fff4e0"

    def __init__(
        self, *, assets: list[Asset], source_dag_id: str, lakehouse_tables: tuple[str, ...] = (), **kwargs: Any
    ) -> None:
        kwargs.setdefault("mode", "reschedule")
        super().__init__(inlets=list(assets), **kwargs)
        self.source_dag_id = source_dag_id
        self.lakehouse_tables = lakehouse_tables

    def _behind(self, context: Context) -> list[str]:
        """Each table whose events do not cover this run's interval, with how far they got."""
        end = context["data_interval_end"]
        assert end is not None, "a run of a scheduled DAG has a data interval"
        behind = []
        for asset in self.inlets:
            if not isinstance(asset, Asset):
                continue
            events = context["inlet_events"][asset].ascending(False).limit(RECENT_EVENTS)
            latest = latest_interval_end(events)
            if latest is None or latest < end:
                behind.append(f"{asset.name} (covered up to {latest.isoformat() if latest else 'never'})")
        return behind

    def poke(self, context: Context) -> bool:
        behind = self._behind(context)
        if behind:
            self.log.info(
                "waiting for %s to cover this run's interval (to %s): runs of %s",
                ", ".join(behind), context["data_interval_end"], self.source_dag_id,
            )  # fmt: skip
        return not behind

    def execute(self, context: Context) -> Any:
        skip_unless_selected(context, self.lakehouse_tables)
        try:
            return super().execute(context)
        except AirflowSensorTimeout:
            behind = ", ".join(self._behind(context)) or f"the tables of {self.source_dag_id}"
            raise AirflowSensorTimeout(
                f"{behind} did not cover this run's interval (to {context['data_interval_end']}) within "
                f"{self.timeout:.0f} s: is {self.source_dag_id} paused or failing? Nothing read a partial interval."
            ) from None
