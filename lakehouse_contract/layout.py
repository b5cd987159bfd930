"""Files under the lakehouse root that are not tables: landing data and step results.

``<root>/landing/<table>/logical_date=<ds>``                 extract's output, write_bronze's input
``<root>/landing/<table>/logical_date=<ds>/slice=<HHMMSS>``  the same, of an hourly table's run
``<root>/landing/<table>/logical_date=<ds>__deleted_keys``   keys extract found deleted
``<root>/_control/step_results/<dag>/<run key>/<table>/<step>.json``  what each step did
``<root>/_control/leases/<table>.json``                     the run loading the table (extract -> write_bronze)
``<root>/_control/restore_points/<id>.json``                the Delta version of every table at one moment (DR)
``<root>/_control/restore_epoch.json``                      the last restore / rebuild (watermark guards restart)
"""

from __future__ import annotations

import datetime as dt
import re

STEP_RESULTS = "_control/step_results"
LEASES = "_control/leases"
RESTORE_POINTS = "_control/restore_points"


def run_key(run_id: str) -> str:
    """File-system-safe form of a run id (run ids contain ':' and '+')."""
    return re.sub(r"[^A-Za-z0-9._-]", "_", run_id)


def landing_dir(root: str, table: str, logical_date: dt.date | str, slice_start: dt.datetime | None = None) -> str:
    folder = f"{root.rstrip('/')}/landing/{table}/logical_date={logical_date}"
    return folder if slice_start is None else f"{folder}/slice={slice_start:%H%M%S}"


def deleted_keys_dir(root: str, table: str, logical_date: dt.date | str, slice_start: dt.datetime | None = None) -> str:
    return landing_dir(root, table, logical_date, slice_start) + "__deleted_keys"


def step_results_dir(root: str, dag_id: str, run_id: str, table: str) -> str:
    return f"{root.rstrip('/')}/{STEP_RESULTS}/{dag_id}/{run_key(run_id)}/{table}"


def step_result_path(root: str, dag_id: str, run_id: str, table: str, step: str) -> str:
    return f"{step_results_dir(root, dag_id, run_id, table)}/{step}.json"


def lease_path(root: str, table: str) -> str:
    """One per table name under a root: what two loads of the table would share (its landing folder)."""
    return f"{root.rstrip('/')}/{LEASES}/{table}.json"


def restore_points_dir(root: str) -> str:
    return f"{root.rstrip('/')}/{RESTORE_POINTS}"


def restore_point_path(root: str, point_id: str) -> str:
    return f"{restore_points_dir(root)}/{point_id}.json"


def restore_epoch_path(root: str) -> str:
    return f"{root.rstrip('/')}/_control/restore_epoch.json"
