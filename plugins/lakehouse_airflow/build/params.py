"""Trigger parameters (shown in the UI trigger form) and how tasks honour them."""

from __future__ import annotations

from collections.abc import Iterable

from airflow.sdk import Context, Param
from airflow.sdk.exceptions import AirflowSkipException

from lakehouse_airflow.config import PipelineConfig

MODES = ("incremental", "full")


def dag_params(cfg: PipelineConfig, tables: Iterable[str] | None = None) -> dict[str, Param]:
    """The trigger form; ``tables`` offers the DAG's own tables (default: all of the pipeline's)."""
    wanted = set(tables) if tables is not None else None
    names = [t.name for t in cfg.ordered_tables() if wanted is None or t.name in wanted]
    return {
        "tables": Param(
            [],
            type="array",
            items={"type": "string", "enum": names},
            uniqueItems=True,
            title="Tables",
            description="Run only these tables (their silver tables and the gold models reading them); "
            "the others are skipped, not failed. Empty: all tables.",
        ),
        "mode": Param(
            "incremental",
            type="string",
            enum=list(MODES),
            # the ETL monitor's processing modes: LIVE / HISTORIC (a past logical date) and BULK
            values_display={
                "incremental": "incremental (live, or historic for a past date)",
                "full": "full (bulk reload)",
            },
            title="Load mode",
            description="incremental: incremental tables load the run's data interval. "
            "full: one-off full reload of the chosen tables (deletes detected by key comparison).",
        ),
    }


def skip_unless_selected(context: Context, tables: Iterable[str]) -> None:
    """Raise AirflowSkipException when the run's ``tables`` param selects none of ``tables``."""
    served = set(tables)
    chosen = (context.get("params") or {}).get("tables") or []
    if served and chosen and not served & set(chosen):
        raise AirflowSkipException(f"not selected by params.tables={sorted(chosen)} (serves {sorted(served)})")
