"""ETL monitor in the terminal: ``python -m lakehouse_airflow.monitor [summary|failures|status|watermarks]``.

``summary`` (default) prints the run summary of the latest run (or ``--run-id``) and the current
failures; the others print one view each.
"""

from __future__ import annotations

import argparse
import sys

from lakehouse_airflow.monitor.monitored import monitor_stores, tracked
from lakehouse_airflow.monitor.store import MonitorStore
from lakehouse_airflow.monitor.text import table

VIEWS = {
    "failures": "SELECT workflow_id, run_id, task_id, attempt_count, end_time, message "
    "FROM __SCHEMA__.v_current_failures WHERE (%(dag)s::text IS NULL OR workflow_id = %(dag)s)",
    "status": "SELECT processing_date, workflow_id, run_id, processing_mode, process_status, tasks, done, failed, "
    "pending, skipped, deadline_breached FROM __SCHEMA__.v_process_status "
    "WHERE (%(dag)s::text IS NULL OR workflow_id = %(dag)s) ORDER BY processing_date DESC, workflow_id",
    "watermarks": 'SELECT workflow_id, param_name, param_type, "ActiveValue", updated_at '
    "FROM __SCHEMA__.v_watermarks WHERE (%(dag)s::text IS NULL OR workflow_id = %(dag)s) "
    "ORDER BY workflow_id, param_type, param_name",
}
LATEST_RUN = (
    "SELECT workflow_id, run_id FROM __SCHEMA__.process_runs "
    "WHERE (%(dag)s::text IS NULL OR workflow_id = %(dag)s) ORDER BY started_at DESC LIMIT 1"
)
SUMMARY = (
    "SELECT attempt, tasks, nque, rque, done, fail, skip, rows_written, first_start, last_end "
    "FROM __SCHEMA__.v_run_summary WHERE workflow_id = %(dag)s AND run_id = %(run)s ORDER BY attempt"
)


def _stores(dag_id: str | None) -> list[MonitorStore]:
    if dag_id is None:
        return monitor_stores()
    found = tracked(dag_id)
    if found is None:
        raise SystemExit(f"DAG {dag_id!r} is not a monitored pipeline")
    return [found[1]]


def summary(store: MonitorStore, dag_id: str | None, run_id: str | None) -> str:
    if run_id is None or dag_id is None:
        latest = store.query(LATEST_RUN, {"dag": dag_id})[1]
        if not latest:
            return "no runs recorded yet"
        dag_id, run_id = latest[0] if run_id is None else (latest[0][0], run_id)
    columns, rows = store.query(SUMMARY, {"dag": dag_id, "run": run_id})
    return f"run {run_id} of {dag_id}\n" + table(columns, rows)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lakehouse_airflow.monitor", description=__doc__)
    parser.add_argument("view", nargs="?", default="summary", choices=["summary", *VIEWS])
    parser.add_argument("--dag-id")
    parser.add_argument("--run-id")
    args = parser.parse_args(argv)
    for store in _stores(args.dag_id):
        if args.view == "summary":
            print(summary(store, args.dag_id, args.run_id))
            print("\ncurrent failures")
        view = "failures" if args.view == "summary" else args.view
        print(table(*store.query(VIEWS[view], {"dag": args.dag_id})))
    return 0


if __name__ == "__main__":
    sys.exit(main())
