"""Common frame of a table step: log in JSON, record RUNNING -> SUCCESS/FAILED, exit code."""

from __future__ import annotations

import argparse
import logging
import time
from collections.abc import Callable

from spark_jobs.lib import logs
from spark_jobs.lib.context import RunContext, context_from
from spark_jobs.lib.errors import describe
from spark_jobs.lib.results import StepResult, write_result

Metrics = dict[str, float | int | str | None]


def start_job(args: argparse.Namespace, job: str) -> tuple[RunContext, logging.Logger]:
    """The run context of a parsed job command line and its JSON logger (correlation fields set)."""
    ctx = context_from(args)
    return ctx, logs.configure(ctx.correlation(), job)


def run_step(ctx: RunContext, step: str, body: Callable[[], Metrics], log: logging.Logger) -> int:
    """Run ``body`` as ``step`` for ``ctx``; its metrics or its error land in the step result."""
    result = StepResult(step=step, status="RUNNING", run_id=ctx.run_id, try_number=ctx.try_number)
    write_result(ctx, result)
    log.info("%s started", step)
    try:
        result.metrics = body()
    except Exception as exc:
        result.status, result.finished_at = "FAILED", time.time()
        result.error = describe(exc)
        write_result(ctx, result)
        log.exception("%s failed", step, extra={"fields": {"status": "FAILED"}})
        raise
    result.status, result.finished_at = "SUCCESS", time.time()
    write_result(ctx, result)
    log.info("%s succeeded", step, extra={"fields": {"status": "SUCCESS", "seconds": result.seconds, **result.metrics}})
    return 0
