"""Disaster recovery from the command line: ``python -m lakehouse_airflow.dr <action>`` (or ``make dr``).

    restore-point                       record the Delta version of every table of the pipeline, now
    replicate --replica ROOT [--point ID]   copy a restore point (default: the newest) to ROOT, verify
    restore --point ID                  bring every table back to the restore point (refused, changing
                                        nothing, when a VACUUM deleted files it needs)
    rebuild --replica ROOT --point ID   the primary is gone: copy the replica back, verify
    list [--replica ROOT]               the restore points recorded under the root (or the replica)

Each action runs the ``dr`` Spark job (``spark_jobs/jobs/dr.py``) through ``spark-submit`` with the
same settings and secrets by reference as the pipeline's tasks. ``--pipeline`` picks the pipeline
(its DAG id) when there are several; the lakehouse root is the pipeline's (``$LAKEHOUSE_ROOT``).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys

from lakehouse_airflow.config import PipelineConfig, load_pipelines
from lakehouse_airflow.describe.dr import dr_task, replica_root
from lakehouse_airflow.describe.pipeline import location
from lakehouse_airflow.lake_files import names, read_text
from lakehouse_airflow.paths import PIPELINES_DIR, lakehouse_root
from lakehouse_airflow.run_job import run_job
from lakehouse_contract.layout import restore_point_path, restore_points_dir
from lakehouse_contract.specs import DrAction

ACTIONS: dict[str, DrAction | None] = {
    "restore-point": "restore_point", "replicate": "replicate", "restore": "restore", "rebuild": "rebuild",
    "list": None,
}  # fmt: skip


def _pipeline(dag_id: str | None) -> PipelineConfig:
    found = {cfg.dag_id: cfg for cfg in load_pipelines(PIPELINES_DIR)}
    if dag_id is None and len(found) == 1:
        return next(iter(found.values()))
    if dag_id not in found:
        raise SystemExit(f"dr: --pipeline must be one of {', '.join(sorted(found))}")
    return found[dag_id]


def list_points(cfg: PipelineConfig, root: str) -> int:
    folder = restore_points_dir(root)
    rows = []
    for name in names(cfg.lakehouse.storage_conn_id, folder):
        text = read_text(cfg.lakehouse.storage_conn_id, restore_point_path(root, name.removesuffix(".json")))
        if text:
            point = json.loads(text)
            rows.append(f"{point['id']}  taken {point['taken_at']}  {len(point['versions'])} tables")
    print("\n".join(rows) if rows else f"no restore point under {root}")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m lakehouse_airflow.dr", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    p.add_argument("action", choices=list(ACTIONS))
    p.add_argument("--pipeline", help="the pipeline's DAG id (needed when there are several)")
    p.add_argument("--replica", help="the replica root (default: dr.replica_root / $LAKEHOUSE_REPLICA_ROOT)")
    p.add_argument("--point", default="", help="restore point id (see `list`)")
    args = p.parse_args(argv)
    cfg = _pipeline(args.pipeline)
    replica = lakehouse_root(args.replica) if args.replica else (replica_root(cfg) or "")
    action = ACTIONS[args.action]
    if action is None:
        return list_points(cfg, replica if args.replica else location(cfg).root)
    if action in ("replicate", "rebuild") and not replica:
        raise SystemExit(f"dr {args.action}: --replica (or dr.replica_root / $LAKEHOUSE_REPLICA_ROOT) is needed")
    if action in ("restore", "rebuild") and not args.point:
        raise SystemExit(f"dr {args.action}: --point is needed (see `python -m lakehouse_airflow.dr list`)")
    task = dr_task(cfg, action, replica, args.point)
    run_id = f"dr_cli__{dt.datetime.now(dt.UTC):%Y-%m-%dT%H:%M:%S}"
    job_args = [*task.argv()[:3], "--run-id", run_id, "--logical-date", f"{dt.datetime.now(dt.UTC):%Y-%m-%d}"]
    code = run_job(job_args, cfg.lakehouse.storage_conn_id)
    if code == 0 and cfg.monitor.enabled:
        _record(cfg, task.spec.dag_id, run_id, action)
    return code


def _record(cfg: PipelineConfig, dag_id: str, run_id: str, action: DrAction) -> None:
    """The step in the pipeline's ETL monitor (the DR DAG's listener does the same); the action
    itself succeeded, so a monitor out of reach is a warning, not a failure."""
    from lakehouse_airflow.monitor.restore_points import record_dr_step
    from lakehouse_airflow.monitor.store import MonitorStore

    store = MonitorStore(cfg.monitor.conn_id, cfg.monitor.schema_name)
    try:
        store.setup()
        if record_dr_step(store, cfg, dag_id, run_id, action):
            print(f"dr: recorded in the ETL monitor ({cfg.monitor.schema_name}.restore_points)")
    except Exception as exc:  # reported; the DR action stands
        print(f"dr: warning: not recorded in the ETL monitor: {type(exc).__name__}: {exc}", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main())
