"""Step results: each job records what it did for (run, table, step) as a small JSON document.

The audit job reads them to report rows and errors without re-deriving them; a step writes
``RUNNING`` first, so a killed attempt is never mistaken for an earlier success.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from spark_jobs.lib.context import RunContext


@dataclass
class StepResult:
    step: str
    status: str  # RUNNING | SUCCESS | FAILED
    run_id: str
    try_number: int
    started_at: float = field(default_factory=time.time)
    finished_at: float | None = None
    metrics: dict[str, float | int | str | None] = field(default_factory=dict)
    error: str | None = None

    @property
    def seconds(self) -> float | None:
        return None if self.finished_at is None else round(self.finished_at - self.started_at, 3)


def _path(ctx: RunContext, step: str) -> Path:
    return ctx.results_dir() / f"{step}.json"


def write_result(ctx: RunContext, result: StepResult) -> None:
    path = _path(ctx, result.step)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(asdict(result), default=str))
    os.replace(tmp, path)  # atomic: readers never see half a document


def read_result(ctx: RunContext, step: str) -> StepResult | None:
    path = _path(ctx, step)
    if not path.exists():
        return None
    data = json.loads(path.read_text())
    result = StepResult(**data)
    return result if result.run_id == ctx.run_id else None
