"""Step results on disk (``lakehouse_contract.results``, at ``lakehouse_contract.layout``'s path).

The audit job reads them to report rows and errors without re-deriving them; a step writes
``RUNNING`` first, so a killed attempt is never mistaken for an earlier success.
"""

from __future__ import annotations

import os

from lakehouse_contract.results import StepResult
from spark_jobs.runtime.context import RunContext


def write_result(ctx: RunContext, result: StepResult) -> None:
    path = ctx.result_path(result.step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(result.to_json())
    os.replace(tmp, path)  # atomic: readers never see half a document


def read_result(ctx: RunContext, step: str) -> StepResult | None:
    path = ctx.result_path(step)
    if not path.exists():
        return None
    result = StepResult.from_json(path.read_text())
    return result if result.run_id == ctx.run_id else None
