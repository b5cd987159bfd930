"""Read the typed spec and run flags back out of an operator's command line or a payload."""

from __future__ import annotations

from collections.abc import Sequence

from lakehouse_contract.naming import Location
from lakehouse_contract.specs import SPEC_FLAG, JobSpec, parse_spec


def flags(args: Sequence[str]) -> dict[str, str]:
    """``--flag value`` pairs of a command line (the spec's JSON is one value)."""
    return {a: args[i + 1] for i, a in enumerate(args[:-1]) if a.startswith("--")}


def spec_of(args: Sequence[str]) -> JobSpec:
    """The job spec a command line carries."""
    return parse_spec(flags(args)[SPEC_FLAG])


def job_argv(spec: JobSpec, run_id: str, logical_date: str = "2026-11-23", **run: str) -> list[str]:
    """A job's command line as the operator renders it: spec, run id, logical date, other run flags."""
    argv = [spec.job, SPEC_FLAG, spec.to_json(), "--run-id", run_id, "--logical-date", logical_date]
    for name, value in run.items():
        argv += [f"--{name.replace('_', '-')}", value]
    return argv


def table_specs(
    table: str,
    root: str,
    columns: dict[str, str] | None = None,
    source: str | None = None,
    location: Location | None = None,
    **changes: object,
) -> dict[str, JobSpec]:
    """The shipped pipeline's bronze specs of ``table`` (step -> spec) under ``root`` (dag id ``t``),
    reading ``source`` (default ``it_src.<table>``); ``columns`` narrows the contract; ``changes``
    apply to every spec that has the field."""
    from dataclasses import fields, replace

    from lakehouse_airflow.config import load_pipeline
    from lakehouse_airflow.describe.pipeline import bronze_specs
    from lakehouse_airflow.describe.tasks import job_spec
    from support.env import IT_SCHEMA, ROOT

    cfg = load_pipeline(ROOT / "include" / "pipelines" / "inventory.yaml")
    where = location or Location(root)
    out: dict[str, JobSpec] = {}
    for task in bronze_specs(cfg, cfg.tables[table]):
        spec = job_spec(task)
        names = {f.name for f in fields(spec)}
        update: dict[str, object] = {"dag_id": "t", "location": where}
        if "source" in names:
            update["source"] = source or f"{IT_SCHEMA}.{table}"
        if columns is not None and "columns" in names:
            update["columns"] = columns
        update.update({k: v for k, v in changes.items() if k in names})
        out[task.step] = replace(spec, **update)  # type: ignore[arg-type]
    return out
