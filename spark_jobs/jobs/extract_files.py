"""extract_files: the new files of a file table -> this run's read plan (landing folder).

Lists the source location, decides which files this run owns (``spark_jobs.transforms.file_plan``),
checks each one against the contract before anything is written (an unreadable file, a missing or
retyped contract column: the table fails naming the file, or with ``on_bad_file: skip`` the file is
recorded as skipped), claims them in the file manifest (one commit), then writes the read plan
(the claimed files and what their probe found) to the run's landing folder and records their row
count (Parquet: the footers; text formats: one read). write_bronze reads the files themselves from
the plan and replaces the slice: the rows are read once, not copied into landing first.
"""

from __future__ import annotations

import json

from lakehouse_contract.results import ExtractOutcome
from lakehouse_contract.specs import ExtractFilesSpec
from spark_jobs.runtime.errors import EmptySourceError
from spark_jobs.runtime.faults import with_fault
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import run_step, start_job
from spark_jobs.storage import leases, manifest
from spark_jobs.storage.file_source import (
    BadFileError,
    contract_problems,
    extra_columns,
    list_files,
    plan_frame,
    planned_rows,
    probe_files,
)
from spark_jobs.storage.tables import file_manifest_table
from spark_jobs.transforms.file_plan import plan_run

SHOWN = 5  # bad files named in an error message


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, ExtractFilesSpec)
    source = spec.files

    def body() -> ExtractOutcome:
        spark = get_spark(f"extract-{ctx.table}")
        leases.acquire(ctx, log)  # one load of the table at a time (storage/leases.py)
        listed = list_files(spark, source)
        if not listed and not spec.allow_empty:
            raise EmptySourceError(
                f"no files matching {source.glob!r} under {source.location}; refusing an empty load "
                "(set allow_empty: true to permit an empty folder)"
            )
        ref = file_manifest_table(ctx.tables, ctx.bronze_schema)
        known = manifest.read(spark, ref, ctx.table)
        plan = plan_run(
            listed, known, ctx.logical_date, location=source.location, date_pattern=source.date_pattern,
            timezone=spec.source_timezone, on_modified=source.on_modified,
        )  # fmt: skip
        for path in plan.modified_ignored:
            log.warning(
                "%s: %s changed after it was loaded; on_modified: ignore keeps its loaded rows", ctx.table, path
            )
        claimed = [c.file.path for c in plan.claims]
        probes = probe_files(spark, source, claimed)
        bad = {p.path: problem for p in probes if (problem := contract_problems(p, spec.columns))}
        if bad and source.on_bad_file == "fail":
            named = "; ".join(f"{path}: {why}" for path, why in sorted(bad.items())[:SHOWN])
            more = f" (and {len(bad) - SHOWN} more)" if len(bad) > SHOWN else ""
            raise BadFileError(
                f"{len(bad)} file(s) of {ctx.table} cannot be loaded: {named}{more}; nothing was written "
                "(fix or remove the file, or set on_bad_file: skip to load the others)"
            )
        for path, why in sorted(bad.items()):
            log.warning("%s: skipped %s: %s", ctx.table, path, why)
        good = [p for p in probes if p.path not in bad]
        extras = extra_columns(good, spec.columns)
        if extras:
            log.warning("%s: files carry columns outside the contract %s (bronze keeps them)", ctx.table, extras)
        manifest.claim(spark, ref, ctx.table, known, plan.claims, bad, ctx.logical_date, ctx.run_id)
        with_fault(plan_frame(spark, good), "extract", ctx.table).write.mode("overwrite").parquet(ctx.landing_path())
        if all(p.rows is not None for p in good):  # Parquet: the footers count
            rows = sum(p.rows or 0 for p in good)
        else:
            rows = planned_rows(spark, source, good, dict(spec.columns)).count()
        replaced = plan.replaced(ctx.logical_date)
        log.info(
            "%s: %d file(s) listed, %d loaded (%d rows), %d skipped, %d for later dates, %d rewritten-ignored",
            ctx.table, len(listed), len(good), rows, len(bad), plan.future, len(plan.modified_ignored),
        )  # fmt: skip
        return ExtractOutcome(
            source_row_count=rows,
            rows_read=rows,
            landing_path=ctx.landing_path(),
            load_mode="incremental",
            table_load_mode="incremental",
            window_start=ctx.interval_start or None,
            window_end=ctx.interval_end or None,
            rows_deleted=None,
            deletes_path=None,
            schema_changes=f"added columns {extras}" if extras else None,
            files_loaded=len(good),
            files_skipped=len(bad),
            files_modified_ignored=len(plan.modified_ignored),
            files_replaced=json.dumps([[str(d), p] for d, p in replaced]) if replaced else None,
        )

    return run_step(ctx, "extract", body, log)
