"""Common frame of a table step: log in JSON, record RUNNING -> SUCCESS/FAILED, exit code."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from lakehouse_contract.results import Metric, Outcome, StepResult
from lakehouse_contract.specs import JobSpec
from spark_jobs.runtime import logs
from spark_jobs.runtime.context import RunContext, context_from
from spark_jobs.runtime.errors import describe
from spark_jobs.runtime.session import require_safe_commits, server_unavailable
from spark_jobs.storage.results import write_result

Metrics = dict[str, Metric]
S = TypeVar("S", bound=JobSpec)


def start_job(argv: list[str], kind: type[S]) -> tuple[RunContext, S, logging.Logger]:
    """The run context and typed spec of a job command line, and its JSON logger (correlation set)."""
    ctx, spec = context_from(argv, kind)
    require_safe_commits(ctx.root)
    return ctx, spec, logs.configure(ctx.correlation(), kind.job)


def run_step(ctx: RunContext, step: str, body: Callable[[], Outcome | Metrics], log: logging.Logger) -> int:
    """Run ``body`` as ``step`` for ``ctx``; its metrics or its error land in the step result."""
    result = StepResult(step=step, status="RUNNING", run_id=ctx.run_id, try_number=ctx.try_number)
    write_result(ctx, result)
    log.info("%s started", step)
    try:
        outcome = body()
        result.metrics = outcome.metrics() if isinstance(outcome, Outcome) else outcome
    except Exception as exc:
        gone = server_unavailable(exc, step)
        result.status, result.finished_at = "FAILED", time.time()
        result.error = describe(gone or exc)
        write_result(ctx, result)
        log.exception("%s failed%s", step, f": {gone}" if gone else "", extra={"fields": {"status": "FAILED"}})
        if gone:
            raise gone from exc
        raise
    result.status, result.finished_at = "SUCCESS", time.time()
    write_result(ctx, result)
    log.info("%s succeeded", step, extra={"fields": {"status": "SUCCESS", "seconds": result.seconds, **result.metrics}})
    return 0
