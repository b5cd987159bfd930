"""Faults injected on purpose (tests and failure drills), through one environment variable.

``LAKEHOUSE_INJECT_FAULT=<step>:<table>`` makes every row after the first raise inside the step's
Spark tasks: data files may be written, the commit never happens. ``<step>:<table>:stall`` makes
those rows sleep instead (10 minutes each), so a drill can kill the Spark server or the task's own
process while the write is in flight; ``<step>:<table>:slow`` makes each of them take 20 ms (a read
that stays open long enough to restart its source under it). Steps that honour it: ``extract`` (the
JDBC read), ``write_bronze`` (the bronze write) and ``silver`` (the frame MERGEd into silver).
``confirm:<table>`` fails a CDC table's write_bronze after its bronze commit, before the slot is
confirmed (:func:`fault_point`). Unset, nothing changes.
"""

from __future__ import annotations

import os

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from spark_jobs.runtime.errors import InjectedFaultError

FAULT_ENV = "LAKEHOUSE_INJECT_FAULT"
STALL_MS, SLOW_MS = 600_000, 20


def with_fault(df: DataFrame, step: str, table: str) -> DataFrame:
    """``df`` unchanged unless a fault is injected for this step and table."""
    target = f"{step}:{table}"
    fault = os.environ.get(FAULT_ENV, "")
    if fault == target:
        effect = F.raise_error(F.lit(f"{InjectedFaultError.__name__}: injected failure in {target}"))
    elif fault in (f"{target}:stall", f"{target}:slow"):
        ms = STALL_MS if fault.endswith(":stall") else SLOW_MS
        effect = F.expr(f"reflect('java.lang.Thread', 'sleep', CAST({ms} AS BIGINT))")
    else:
        return df
    # a filter that keeps every row but evaluates the effect for all rows after the first
    keep = F.coalesce(effect.try_cast("boolean"), F.lit(True))
    return df.where(F.when(F.monotonically_increasing_id() >= 1, keep).otherwise(F.lit(True)))


def fault_point(step: str, table: str) -> None:
    """Raise here when ``LAKEHOUSE_INJECT_FAULT`` names this point (a step between two commits)."""
    if os.environ.get(FAULT_ENV, "") == f"{step}:{table}":
        raise InjectedFaultError(f"injected failure in {step}:{table}")
