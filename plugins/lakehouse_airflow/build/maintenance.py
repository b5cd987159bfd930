"""The Delta maintenance DAG of a pipeline (``<dag_id>_maintenance``, weekly by default).

One ``maintain`` Spark task per source table (its bronze, silver and quarantine tables, Z-ORDERed
by the table's ``zorder`` columns), one for the gold models and one for the control tables (audit
log, watermarks, DQ results, the maintenance log itself). Each OPTIMIZEs, then VACUUMs with the
configured retention (never below 168 hours) and records one row per table in
the maintenance log (``lakehouse_contract.naming``). Built through the same operator factory as the pipeline, so
it runs locally and on Databricks alike.
"""

from __future__ import annotations

from airflow.sdk import DAG

from lakehouse_airflow.build.side_dag import build_side_dag
from lakehouse_airflow.config.pipeline import PipelineConfig
from lakehouse_airflow.describe.maintenance import GROUP, maintenance_dag_id, maintenance_specs
from lakehouse_contract import naming


def build_maintenance_dag(cfg: PipelineConfig) -> DAG:
    doc = (
        f"### {maintenance_dag_id(cfg)}\n\nDelta maintenance of `{cfg.dag_id}`'s tables: OPTIMIZE (Z-ORDER on "
        "each table's `zorder` columns), then VACUUM keeping "
        f"{cfg.maintenance.retention_hours} hours of history (never below 168). Results: "
        f"`{cfg.lakehouse.bronze_schema}.{naming.MAINTENANCE_LOG}`."
    )
    return build_side_dag(
        cfg, dag_id=maintenance_dag_id(cfg), description=f"Weekly Delta maintenance of {cfg.dag_id}",
        schedule=cfg.maintenance.schedule, tag="maintenance", doc=doc, group=GROUP,
        tooltip="OPTIMIZE + Z-ORDER, VACUUM with the retention guard", specs=maintenance_specs(cfg),
    )  # fmt: skip
