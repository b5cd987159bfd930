"""JSON-lines logging carrying the correlation id (dag, run, task, try, table)."""

from __future__ import annotations

import json
import logging
import sys
import time

from spark_jobs.runtime.errors import describe


class JsonFormatter(logging.Formatter):
    def __init__(self, correlation: dict[str, object]) -> None:
        super().__init__()
        self._correlation = correlation

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, object] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created)) + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "msg": record.getMessage(),
            **self._correlation,
        }
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            payload.update(extra)
        if record.exc_info and record.exc_info[1] is not None:
            payload["error"] = describe(record.exc_info[1])
        return json.dumps(payload, default=str)


def configure(correlation: dict[str, object], job: str) -> logging.Logger:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter({**correlation, "job": job}))
    root = logging.getLogger("spark_jobs")
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)
    root.propagate = False
    return root
