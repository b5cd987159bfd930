"""CLI: ``python -m seed --sf 0.01 [--schema tests] [--seed 42] [--force]``.

The target database comes from ``--dsn`` or the ``AIRFLOW_CONN_INVENTORY_SOURCE`` URI (the same
connection the pipeline reads from), so no password is typed on the command line.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time

from seed.load import SeedRequest, seed_database


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m seed", description=__doc__)
    parser.add_argument("--dsn", default=os.environ.get("AIRFLOW_CONN_INVENTORY_SOURCE"))
    parser.add_argument("--schema", default=os.environ.get("LAKEHOUSE_SOURCE_SCHEMA", "tests"))
    parser.add_argument("--sf", type=float, default=float(os.environ.get("SF", "0.01")))
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--force", action="store_true", help="reseed even when the same seed is present")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    if not args.dsn:
        parser.error("no database: pass --dsn or set AIRFLOW_CONN_INVENTORY_SOURCE")
    started = time.monotonic()
    counts = seed_database(SeedRequest(args.dsn, args.schema, args.sf, args.seed), force=args.force)
    width = max(map(len, counts))
    for table, n in counts.items():
        sys.stdout.write(f"  {table:<{width}}  {n:>10,}\n")
    sys.stdout.write(f"seed ready: schema {args.schema}, SF={args.sf}, {time.monotonic() - started:.1f}s\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
