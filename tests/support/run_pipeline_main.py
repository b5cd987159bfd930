"""``python -m support.run_pipeline_main <pipelines dir> <lake> <logical date> <run id> [tables [layers]]``:
the Spark tasks of the pipeline's DAG for that date (those of the comma-separated ``tables``, as the
DAG's ``tables`` param selects them, and ``layers``; default all), in DAG order, in this process
(``support.inprocess``),
against the Spark Connect server named by ``LAKEHOUSE_SPARK_REMOTE``. A process of its own, so its
Spark session is that server's (a test process already holds a session to the shared server)."""

from __future__ import annotations

import sys
from pathlib import Path

from lakehouse_airflow.config import load_pipelines
from support.inprocess import Run, run_pipeline


def main(argv: list[str]) -> int:
    pipelines, lake, date, run_id, *selection = argv
    tables, layers = (*selection, "", "")[:2]
    (cfg,) = load_pipelines(Path(pipelines))
    chosen = tuple(layers.split(",")) if layers else ("bronze", "silver", "gold")
    run_pipeline(cfg, Run(date, run_id, tuple(filter(None, tables.split(",")))), Path(lake), chosen)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
