"""``python -m support.run_pipeline_main <pipelines dir> <lake> <logical date> <run id>``: every Spark
task of the pipeline's DAG for that date, in DAG order, in this process (``support.inprocess``),
against the Spark Connect server named by ``LAKEHOUSE_SPARK_REMOTE``. A process of its own, so its
Spark session is that server's (a test process already holds a session to the shared server)."""

from __future__ import annotations

import sys
from pathlib import Path

from lakehouse_airflow.config import load_pipelines
from support.inprocess import Run, run_pipeline


def main(argv: list[str]) -> int:
    pipelines, lake, date, run_id = argv
    (cfg,) = load_pipelines(Path(pipelines))
    run_pipeline(cfg, Run(date, run_id), Path(lake))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
