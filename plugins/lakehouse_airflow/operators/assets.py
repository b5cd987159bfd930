"""The lakehouse tables as Airflow Assets: the task that commits a bronze, silver or gold table
names it as an outlet (from its job spec, ``JobSpec.commits``), and records which slice of which
run it committed in the asset event's extra. Airflow emits the event only when the task succeeds:
a failed or skipped write emits none."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from airflow.sdk import Asset, Context

from lakehouse_contract.naming import TableName
from lakehouse_contract.specs import JobSpec

ASSET_GROUP = "lakehouse"


def _asset(table: TableName) -> Asset:
    return Asset(name=str(table), uri=table.asset_uri, group=ASSET_GROUP)


def table_assets(spec: JobSpec) -> list[Asset]:
    """The Assets of the tables ``spec``'s job commits (none for extract, audit, maintenance...)."""
    return [_asset(t) for t in spec.commits()]


def input_assets(spec: JobSpec) -> list[Asset]:
    """The Assets of the layer tables ``spec``'s job reads (silver: its bronze table; gold: its
    silver inputs): the task's inlets, so the asset graph shows the pipeline's lineage."""
    return [_asset(t) for t in spec.reads()]


def commit_extra(context: Context) -> dict[str, Any]:
    """What an asset event of this task says about the commit: the run and the slice it loaded."""
    params = context.get("params") or {}
    start, end = context.get("data_interval_start"), context.get("data_interval_end")
    return {
        "dag_id": context["ti"].dag_id,
        "run_id": context["ti"].run_id,
        "logical_date": context.get("ds"),  # the bronze slice (_logical_date) the run owns
        "data_interval_start": start.isoformat() if start else None,
        "data_interval_end": end.isoformat() if end else None,
        "mode": params.get("mode"),
    }


def record_commits(context: Context, outlets: Iterable[object]) -> None:
    """Put ``commit_extra`` on the event of each of the task's table assets (after its job succeeded)."""
    extra = commit_extra(context)
    for outlet in outlets:
        if isinstance(outlet, Asset):
            context["outlet_events"][outlet].extra = extra
