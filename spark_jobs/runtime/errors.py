"""Domain errors raised by the jobs; their messages are shown in the Airflow task log and audit."""


class JobError(RuntimeError):
    """A job failed for a reason it can name (bad input, missing dependency, mismatch)."""


class SecretNotFoundError(JobError):
    """A secret reference could not be resolved (the value itself is never in the message)."""


class TableBusyError(JobError):
    """Another run is loading the same table (it holds the table's lease); nothing was read or written."""


class UnsafeCommitConfigurationError(JobError):
    """Delta commits to an object store from more than one Spark driver without a safe log store."""


class SparkServerUnavailableError(JobError):
    """The Spark Connect server stopped, was killed or restarted while the job used it."""


class SourceConnectionLostError(JobError):
    """The source server went away (restart, network) while the extract read it; nothing was written."""


class EmptySourceError(JobError):
    """The source returned no rows and the table does not allow empty loads."""


class ReconciliationError(JobError):
    """Row counts between two layers disagree."""


class MissingStepResultError(JobError):
    """An upstream step left no usable result for this run."""


class ExpectationFailedError(JobError):
    """An ``expect_or_fail`` data-quality rule was violated; nothing was written."""


class SchemaContractError(JobError):
    """Input columns do not satisfy the declared contract."""


def describe(exc: BaseException, limit: int = 2000) -> str:
    """``Type: message`` without the JVM stack trace Spark appends (first line of the message)."""
    lines = [ln for ln in str(exc).splitlines() if ln.strip() and not ln.lstrip().startswith("at ")]
    message = lines[0].strip() if lines else ""
    return f"{type(exc).__name__}: {message}".strip()[:limit]


class SchemaDriftError(JobError):
    """A source column of the contract was dropped or changed type; nothing was written."""


class InjectedFaultError(JobError):
    """A failure deliberately injected through LAKEHOUSE_INJECT_FAULT (tests, drills)."""


class CdcSetupError(JobError):
    """Change data capture cannot run on this source as configured (wal_level, role, slot lost)."""
