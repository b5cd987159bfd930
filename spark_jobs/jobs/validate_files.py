"""validate_files: the source check of a file table (``validate_connection``).

The location can be listed; unless ``allow_empty``, it holds at least one matching file; the newest
file has every contract column with a fitting type (a missing or retyped column fails here, before
any write; columns outside the contract are reported: bronze will keep them).
"""

from __future__ import annotations

from lakehouse_contract.results import ValidateOutcome
from lakehouse_contract.specs import ValidateFilesSpec
from spark_jobs.runtime.errors import EmptySourceError, SchemaContractError
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import run_step, start_job
from spark_jobs.storage.file_source import contract_problems, extra_columns, list_files, probe_files


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, ValidateFilesSpec)
    source = spec.files

    def body() -> ValidateOutcome:
        spark = get_spark(f"validate-{ctx.table}")
        listed = list_files(spark, source)
        if not listed:
            if spec.allow_empty:
                log.info("file source %s holds no %s files (allowed)", source.location, source.glob)
                return ValidateOutcome(source_row_count=0, contract_columns=len(spec.columns), files_listed=0)
            raise EmptySourceError(
                f"file source {source.location} holds no files matching {source.glob!r} "
                "(set allow_empty: true to permit an empty folder)"
            )
        sample = max(listed, key=lambda f: (f.modified, f.path))
        probe = probe_files(spark, source, [sample.path])[0]
        problem = contract_problems(probe, spec.columns)
        if problem:
            raise SchemaContractError(f"file source {source.location}: sample file {sample.path}: {problem}")
        extras = extra_columns([probe], spec.columns)
        if extras:
            log.warning("sample file %s adds columns %s: bronze will keep them", sample.path, extras)
        log.info("file source %s: %d file(s), sample %s fits the contract", source.location, len(listed), sample.path)
        return ValidateOutcome(source_row_count=0, contract_columns=len(spec.columns), files_listed=len(listed))

    return run_step(ctx, "validate_connection", body, log)
