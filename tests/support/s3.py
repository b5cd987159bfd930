"""The suite's view of the project's object store (scripts/locals3.sh): an S3 client with the
key pair of the ``lakehouse_s3`` connection, listings, and DuckDB reading Delta tables from it."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import duckdb

from lakehouse_contract.storage import ObjectUri
from support.kernel import connect, extension


def credentials(env: dict[str, str]) -> dict[str, str]:
    """Key pair and endpoint of the environment's ``aws`` connection (scripts/env.sh)."""
    conn = json.loads(env["AIRFLOW_CONN_LAKEHOUSE_S3"])
    return {"key": conn["login"], "secret": conn["password"], "endpoint": conn["extra"]["endpoint_url"]}


def client(env: dict[str, str]) -> Any:
    c = credentials(env)
    return boto3.client(
        "s3", endpoint_url=c["endpoint"], aws_access_key_id=c["key"], aws_secret_access_key=c["secret"],
        region_name="us-east-1",
    )  # fmt: skip


def keys(s3: Any, uri: str) -> list[str]:
    """Every object key under ``uri`` (a prefix)."""
    where = ObjectUri.parse(uri)
    out: list[str] = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=where.bucket, Prefix=where.key + "/"):
        out += [o["Key"] for o in page.get("Contents", [])]
    return out


def delta_tables(s3: Any, root: str) -> list[str]:
    """``<schema>/<table>`` of every Delta table under a lakehouse root on the object store."""
    prefix = ObjectUri.parse(root).key + "/"
    found = {k[len(prefix) :].split("/_delta_log/")[0] for k in keys(s3, root) if "/_delta_log/" in k}
    return sorted(t for t in found if t.count("/") == 1)


def duckdb_s3(env: dict[str, str]) -> duckdb.DuckDBPyConnection:
    """DuckDB with its delta extension (delta-kernel-rs) and httpfs, holding the key pair as an S3 secret."""
    c = credentials(env)
    con = connect()
    con.execute(f"LOAD '{extension('httpfs')}'")
    con.execute(
        "CREATE SECRET lakehouse_s3 (TYPE s3, KEY_ID ?, SECRET ?, ENDPOINT ?, URL_STYLE 'path', USE_SSL false, "
        "REGION 'us-east-1')".replace("?", "'{}'").format(c["key"], c["secret"], c["endpoint"].split("://", 1)[1])
    )
    return con


def upload_lake(s3: Any, lake: Path, root: str, tables: set[str] | None = None) -> None:
    """A lakehouse on disk copied under ``root`` on the object store (its Delta tables only, or the
    ``tables`` named; Hadoop's local ``.crc`` files and the run-time ``_control`` documents left out)."""
    where = ObjectUri.parse(root)
    for path in sorted(lake.rglob("*")):
        relative = path.relative_to(lake)
        local_checksum = path.name.startswith(".") and path.name.endswith(".crc")  # Hadoop's, not Delta's
        chosen = tables is None or (len(relative.parts) > 1 and relative.parts[1] in tables)
        if path.is_file() and "_control" not in relative.parts and not local_checksum and chosen:
            s3.upload_file(str(path), where.bucket, f"{where.key}/{relative}")
