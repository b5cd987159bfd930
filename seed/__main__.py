"""CLI.

``python -m seed [--sf 0.01] [--schema tests] [--seed 42] [--force]``: (re)create and load the source.
``python -m seed returns --day 2026-11-21 [--days 3] [--sf 1] [--root DIR]``: a day (or days) of return
drops for the returns pipeline (``seed/returns.py``), under the pipeline's file source root.
``python -m seed media --day 2026-11-21 [--days 3] [--sf 1] [--root DIR]``: the same for the media
pipeline's Parquet drops (``seed/media.py``).
``python -m seed activity --run-date 2026-11-21 | --day 2026-11-21 | --start TS --end TS [--rate 0.01]``:
one window of inserts, updates and deletes (timestamps are the source's naive local time);
``--run-date D`` picks the window the pipeline's run for logical date D reads.

The target database comes from ``--dsn`` or the ``AIRFLOW_CONN_INVENTORY_SOURCE`` URI (the same
connection the pipeline reads from), so no password is typed on the command line.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import os
import sys
import time

from seed.activity import ActivityRequest, apply_activity
from seed.load import SeedRequest, seed_database


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dsn", default=os.environ.get("AIRFLOW_CONN_INVENTORY_SOURCE"))
    parser.add_argument("--schema", default=os.environ.get("LAKEHOUSE_SOURCE_SCHEMA", "tests"))
    parser.add_argument("--seed", type=int, default=42)


def _activity(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m seed activity", description=__doc__)
    _common(parser)
    parser.add_argument(
        "--run-date", help="the window the pipeline's run for this logical date reads (as `airflow dags test`)"
    )
    parser.add_argument("--pipeline", default="include/pipelines/inventory.yaml", help="for --run-date")
    parser.add_argument("--day", type=dt.date.fromisoformat, help="the window [day 00:00, next day 00:00)")
    parser.add_argument("--start", type=dt.datetime.fromisoformat)
    parser.add_argument("--end", type=dt.datetime.fromisoformat)
    parser.add_argument("--rate", type=float, default=0.01, help="fraction of each table touched (default 1%%)")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("no database: pass --dsn or set AIRFLOW_CONN_INVENTORY_SOURCE")
    if args.run_date:
        from lakehouse_airflow.build.intervals import source_window
        from lakehouse_airflow.config import load_pipeline

        start, end = source_window(load_pipeline(args.pipeline), args.run_date)
    elif args.day:
        start = dt.datetime.combine(args.day, dt.time())
        end = start + dt.timedelta(days=1)
    elif args.start and args.end:
        start, end = args.start, args.end
    else:
        parser.error("give --run-date, --day, or both --start and --end")
    summary = apply_activity(ActivityRequest(args.dsn, args.schema, start, end, args.seed, args.rate))
    state = "applied" if summary.applied else "already applied (no change)"
    sys.stdout.write(f"activity {start} .. {end} on {args.schema}: {state}\n")
    for kind, counts in (("inserted", summary.inserted), ("updated", summary.updated)):
        sys.stdout.write(f"  {kind:<9} " + ", ".join(f"{t}={n}" for t, n in counts.items()) + "\n")
    sys.stdout.write("  deleted   " + ", ".join(f"{t}={len(k)}" for t, k in summary.deleted.items()) + "\n")
    return 0


FILE_GENERATORS = {  # name -> (module, its day request class, source system, what one unit of --sf is)
    "returns": ("seed.returns", "ReturnsDay", "returns_drops", "about 500 x SF returns per channel and day"),
    "media": ("seed.media", "MediaDay", "media_drops", "about 2000 x SF sessions, 5000 x SF player events a day"),
}


def _drops(name: str, argv: list[str]) -> int:
    """A day (or days) of a file pipeline's drops: ``write_day`` of the generator module."""
    import importlib

    from lakehouse_airflow.paths import files_root

    module_name, request_class, system, unit = FILE_GENERATORS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(
        prog=f"python -m seed {name}", description=(module.__doc__ or name).split("\n\n")[0]
    )
    parser.add_argument("--day", type=dt.date.fromisoformat, required=True, help="the first day of drops")
    parser.add_argument("--days", type=int, default=1, help="consecutive days from --day (default 1)")
    parser.add_argument("--sf", type=float, default=1.0, help=unit)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--root", help=f"default: the pipeline's root ($LAKEHOUSE_FILES_ROOT/{system})")
    args = parser.parse_args(argv)
    root = args.root or files_root(None, system)
    request = getattr(module, request_class)
    for offset in range(args.days):
        day = args.day + dt.timedelta(days=offset)
        counts = module.write_day(request(root, day, args.sf, args.seed))
        summary = ", ".join(f"{t}: {c['rows']} rows -> {c['silver']} silver, {c['quarantine']} quarantined"
                            for t, c in counts.items())  # fmt: skip
        sys.stdout.write(f"{name} {day} under {root}: {summary}\n")
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if argv[:1] == ["activity"]:
        return _activity(argv[1:])
    if argv[:1] and argv[0] in FILE_GENERATORS:
        return _drops(argv[0], argv[1:])
    parser = argparse.ArgumentParser(prog="python -m seed", description=__doc__)
    _common(parser)
    parser.add_argument("--sf", type=float, default=float(os.environ.get("SF", "0.01")))
    group = parser.add_mutually_exclusive_group()
    group.add_argument("--force", action="store_true", help="reseed even when the same seed is present")
    group.add_argument("--if-missing", action="store_true", help="keep an existing seed whatever its scale")
    args = parser.parse_args(argv)
    if not args.dsn:
        parser.error("no database: pass --dsn or set AIRFLOW_CONN_INVENTORY_SOURCE")
    started = time.monotonic()
    counts = seed_database(
        SeedRequest(args.dsn, args.schema, args.sf, args.seed), force=args.force, keep_any=args.if_missing
    )
    width = max(map(len, counts))
    for table, n in counts.items():
        sys.stdout.write(f"  {table:<{width}}  {n:>10,}\n")
    sys.stdout.write(f"seed ready: schema {args.schema}, SF={args.sf}, {time.monotonic() - started:.1f}s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
