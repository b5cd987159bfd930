"""The run context only Airflow knows at run time, as the flags every job takes beside its spec.

Airflow renders the templates; the in-process test runner renders the same ones; the native
Databricks job maps them to dynamic value references (``lakehouse_airflow.databricks.job_export``).
"""

from __future__ import annotations

RUN_ID = "--run-id"
TRY_NUMBER = "--try-number"
LOGICAL_DATE = "--logical-date"
INTERVAL_START = "--interval-start"
INTERVAL_END = "--interval-end"
MODE = "--mode"  # the run's params.mode: incremental | full
UPSTREAM_STATES = "--upstream-states"  # audit: step=state,... (added by the operator at execute time)
UPSTREAM_ERROR = "--upstream-error"  # audit: the message validate_connection pushed to XCom
# a native Databricks run (no Airflow to hand out dates): the schedule and the trigger time
SCHEDULE = "--schedule"
SCHEDULE_TIMEZONE = "--schedule-timezone"
TRIGGER_TIME = "--trigger-time"

AIRFLOW_TEMPLATES: dict[str, str] = {
    RUN_ID: "{{ run_id }}",
    TRY_NUMBER: "{{ ti.try_number }}",
    LOGICAL_DATE: "{{ ds }}",
    INTERVAL_START: "{{ data_interval_start }}",
    INTERVAL_END: "{{ data_interval_end }}",
    MODE: "{{ params.mode }}",
}


TABLE_RUN = (RUN_ID, TRY_NUMBER, LOGICAL_DATE, INTERVAL_START, INTERVAL_END, MODE)  # a pipeline DAG's tasks
BASIC_RUN = (RUN_ID, TRY_NUMBER, LOGICAL_DATE)  # a DAG without data intervals or params (maintenance)


def upstream_error_template(task_id: str) -> str:
    return f"{{{{ ti.xcom_pull(task_ids='{task_id}', key='error') or '' }}}}"


def run_flags(upstream_error_of: str | None = None, context: tuple[str, ...] = TABLE_RUN) -> list[str]:
    """The templated run-context flags of a task: ``context`` (what its DAG renders), and for an
    audit the validate task whose XCom error it reports (``upstream_error_of``)."""
    flags = [item for flag in context for item in (flag, AIRFLOW_TEMPLATES[flag])]
    if upstream_error_of:
        flags += [UPSTREAM_ERROR, upstream_error_template(upstream_error_of)]
    return flags
