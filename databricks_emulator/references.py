"""Dynamic value references (``{{job.run_id}}``, ``{{tasks.<key>.result_state}}``, ...) as the Jobs
service checks them when a job is created and substitutes them when a task starts.

As documented by Databricks: a reference in a known namespace (``job``, ``task``, ``tasks``,
``workspace``) that does not exist is an error; text that is not a reference in those namespaces
passes through unchanged; nothing inside the braces is evaluated.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping

from databricks_emulator.errors import ApiError

REFERENCE = re.compile(r"\{\{\s*([^{}]+?)\s*\}\}")
NAMESPACES = ("job", "task", "tasks", "workspace")
TIME_ARGS = (
    "iso_weekday", "is_weekday", "iso_date", "iso_datetime", "year", "month", "day",
    "hour", "minute", "second", "timestamp_ms",
)  # fmt: skip
FIXED = {
    "job.id", "job.name", "job.run_id", "job.repair_count", "job.trigger.type",
    "task.name", "task.run_id", "task.execution_count", "workspace.id", "workspace.url",
}  # fmt: skip
TASK_FIELDS = ("run_id", "result_state", "error_code", "execution_count")


def _known(ref: str, parameters: set[str], task_keys: set[str]) -> bool:
    parts = ref.split(".")
    if ref in FIXED:
        return True
    if ref.startswith("job.parameters."):
        return ref.removeprefix("job.parameters.").strip("`") in parameters
    if len(parts) == 3 and parts[:2] == ["job", "start_time"]:
        return parts[2] in TIME_ARGS
    if len(parts) == 4 and parts[:3] == ["job", "trigger", "time"]:
        return parts[3] in TIME_ARGS
    if parts[0] == "tasks" and len(parts) >= 3:
        if parts[1] not in task_keys:
            return False
        return (len(parts) == 3 and parts[2] in TASK_FIELDS) or (len(parts) == 4 and parts[2] == "values")
    return False


def check(texts: Iterable[str], parameters: set[str], task_keys: set[str], where: str) -> None:
    """Reject a reference of a known namespace that does not exist (as ``jobs/create`` does)."""
    for text in texts:
        for ref in REFERENCE.findall(text):
            if ref.split(".", 1)[0] in NAMESPACES and not _known(ref, parameters, task_keys):
                raise ApiError(
                    400, "INVALID_PARAMETER_VALUE", f"{where}: invalid dynamic value reference {{{{{ref}}}}}"
                )


def time_values(prefix: str, when_ms: int) -> dict[str, str]:
    """``<prefix>.<argument>`` for a point in time (UTC), e.g. ``job.trigger.time.iso_date``."""
    at = dt.datetime.fromtimestamp(when_ms / 1000, dt.UTC)
    values = {
        "iso_weekday": str(at.isoweekday()),
        "is_weekday": str(at.isoweekday() <= 5).lower(),
        "iso_date": at.date().isoformat(),
        "iso_datetime": at.replace(tzinfo=None).isoformat(timespec="milliseconds"),
        "year": str(at.year),
        "month": str(at.month),
        "day": str(at.day),
        "hour": str(at.hour),
        "minute": str(at.minute),
        "second": str(at.second),
        "timestamp_ms": str(when_ms),
    }
    return {f"{prefix}.{k}": v for k, v in values.items()}


def substitute(text: str, values: Mapping[str, str]) -> str:
    """Replace every reference ``values`` knows; anything else stays literal."""
    return REFERENCE.sub(lambda m: values.get(m.group(1).replace("`", ""), m.group(0)), text)
