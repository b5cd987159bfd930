"""Disaster-recovery benchmark on the lakehouse the pipeline benchmark left on S3 (``--root``):
replication throughput (a first, full copy to an empty replica), the time to restore every table
(RTO of a restore in place, after one more commit per table to undo) and to rebuild the lakehouse
from the replica into an empty bucket (RTO of a lost bucket); RPO is the age of the newest restore
point when disaster strikes: the DR DAG's schedule (daily by default) bounds it.

Each action is ``python -m lakehouse_airflow.dr`` as an operator would run it (its process
start-up included); throughput comes from the job's own step result (bytes copied / copy seconds).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
import uuid

from benchmarks.pipeline import bucket_client, clear_bucket_prefix
from benchmarks.results import save


def _dr(root: str, *args: str) -> float:
    env = {**os.environ, "LAKEHOUSE_ROOT": root}
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "lakehouse_airflow.dr", *args], env=env, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    return round(time.perf_counter() - start, 1)


def _newest_result(root: str, action: str) -> dict[str, object]:
    from lakehouse_contract.storage import ObjectUri

    s3 = bucket_client()
    where = ObjectUri.parse(f"{root}/_control/step_results/inventory_lakehouse_dr")
    found = [o for p in s3.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=where.key + "/")
             for o in p.get("Contents", []) if o["Key"].endswith(f"/{action}/dr.json")]  # fmt: skip
    newest = max(found, key=lambda o: o["LastModified"])
    return json.loads(s3.get_object(Bucket=where.bucket, Key=newest["Key"])["Body"].read())["metrics"]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.dr")
    p.add_argument("--root", default="s3a://lakehouse/bench-dag")
    p.add_argument("--sf", type=float, default=1.0)
    args = p.parse_args(argv)
    replica, rebuilt = f"s3a://lakehouse/bench-replica-{uuid.uuid4().hex[:6]}", ""
    report: dict[str, object] = {"sf": args.sf, "root": args.root}
    report["restore_point_s"] = _dr(args.root, "restore-point")
    report["replicate_s"] = _dr(args.root, "replicate", "--replica", replica)
    copied = _newest_result(args.root, "replicate")
    mb = int(copied["bytes_copied"]) / 1e6  # type: ignore[call-overload]
    report.update(replicated_mb=round(mb, 1), files_copied=copied["files_copied"],
                  copy_mb_per_s=round(mb / float(copied["copy_seconds"]), 1),  # type: ignore[arg-type]
                  rows_verified=copied["rows_verified"])  # fmt: skip
    report["replicate_again_s"] = _dr(args.root, "replicate", "--replica", replica)  # nothing new to copy
    point = _newest_result(args.root, "restore_point")["restore_point"]
    rebuilt = f"s3a://lakehouse/bench-rebuilt-{uuid.uuid4().hex[:6]}"  # an empty primary: the lost-bucket case
    report["rebuild_rto_s"] = _dr(rebuilt, "rebuild", "--replica", replica, "--point", str(point))
    report["restore_noop_s"] = _dr(args.root, "restore", "--point", str(point))  # every table already there
    for prefix in (replica, rebuilt):
        clear_bucket_prefix(prefix)
    save(f"dr-sf{args.sf}", report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
