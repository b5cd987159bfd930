"""``python -m databricks_emulator --root DIR [--port N] [--token T] [--spark-remote sc://...]``

Serves until interrupted; prints one line ``databricks-emulator listening on http://127.0.0.1:<port>``
when ready (``--port 0`` picks a free port)."""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from databricks_emulator.clusters import Clusters
from databricks_emulator.runs import Workspace
from databricks_emulator.server import EmulatorServer


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="databricks_emulator", description=__doc__)
    parser.add_argument("--root", type=Path, required=True, help="storage of /Volumes, environments and run logs")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default=os.environ.get("DATABRICKS_EMULATOR_TOKEN", "dapi-emulator"))
    parser.add_argument("--spark-remote", default=os.environ.get("LAKEHOUSE_SPARK_REMOTE", "sc://127.0.0.1:15102"))
    parser.add_argument("--max-parallel-tasks", type=int, default=2, help="tasks of one run executing at once")
    parser.add_argument(
        "--cluster-start-seconds",
        type=float,
        default=240.0,
        help="simulated start time the meter bills per cluster launch (not slept)",
    )
    parser.add_argument(
        "--cluster-pending-seconds",
        type=float,
        default=1.0,
        help="real seconds a created cluster stays PENDING before RUNNING",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request")
    args = parser.parse_args(argv)
    server = EmulatorServer(
        (args.host, args.port),
        Workspace(
            args.root.resolve(),
            "",
            args.spark_remote,
            args.token,
            args.max_parallel_tasks,
            Clusters(args.cluster_start_seconds, args.cluster_pending_seconds),
        ),
    )
    server.workspace.base_url = f"http://{args.host}:{server.server_address[1]}"
    print(f"databricks-emulator listening on {server.workspace.base_url}", flush=True)
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
