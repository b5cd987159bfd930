"""One Airflow DAG per pipeline file in include/pipelines/ (or $LAKEHOUSE_PIPELINES_DIR).

Thin on purpose: read local config, call the factory, expose the DAGs. No database, network or
Spark at parse time.
"""

from lakehouse_airflow.build.dag import build_all
from lakehouse_airflow.paths import PIPELINES_DIR

globals().update(build_all(str(PIPELINES_DIR)))
