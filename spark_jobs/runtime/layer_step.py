"""Frame for silver and gold jobs: run the step, then append its audit row whatever happened."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable

from lakehouse_contract.results import Outcome
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import SparkServerUnavailableError
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import Metrics, run_step
from spark_jobs.storage.audit_log import append_audit
from spark_jobs.storage.results import read_result
from spark_jobs.storage.tables import audit_table
from spark_jobs.transforms.audit import layer_record


def run_layer_step(
    ctx: RunContext,
    *,
    layer: str,
    source: str,
    target: str,
    audit_name: str,
    body: Callable[[], Outcome | Metrics],
    log: logging.Logger,
) -> int:
    """``run_step`` for ``layer`` plus one audit row (SUCCESS with metrics, or FAILED with the error).
    A step that failed because the Spark server went away has nothing to write the row with: its
    error is raised as it is (the retry's row records the outcome)."""

    def audit() -> None:
        record = layer_record(
            layer=layer,
            source_table=source,
            target_table=target,
            processed_by=f"{ctx.dag_id}.{ctx.task_id}@{socket.gethostname()}",
            result=read_result(ctx, layer),
            dag_id=ctx.dag_id,
            run_id=ctx.run_id,
            logical_date=ctx.logical_date,
        )
        append_audit(get_spark(f"{layer}-audit"), audit_table(ctx.tables, ctx.bronze_schema, audit_name), record)

    try:
        code = run_step(ctx, layer, body, log)
    except SparkServerUnavailableError:
        log.warning("%s: no audit row for this failure (the Spark server is unavailable)", layer)
        raise
    except BaseException:
        audit()
        raise
    audit()
    return code
