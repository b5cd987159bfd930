"""Step results under the lakehouse root (``lakehouse_contract.results``, at
``lakehouse_contract.layout``'s path; a local directory or the object store, ``storage.files``).

The audit job reads them to report rows and errors without re-deriving them; a step writes
``RUNNING`` first, so a killed attempt is never mistaken for an earlier success.
"""

from __future__ import annotations

from lakehouse_contract.results import StepResult
from spark_jobs.runtime.context import RunContext
from spark_jobs.storage.files import files_for


def write_result(ctx: RunContext, result: StepResult) -> None:
    files_for(ctx.root).write_text(ctx.result_path(result.step), result.to_json())  # atomic


def read_result(ctx: RunContext, step: str) -> StepResult | None:
    found = files_for(ctx.root).read(ctx.result_path(step))
    if found is None:
        return None
    result = StepResult.from_json(found[0])
    return result if result.run_id == ctx.run_id else None
