"""Reading the lakehouse's control documents from the Airflow side (step results, restore points):
local files, or objects read with the amazon provider's S3Hook through the pipeline's ``aws``
connection when the root is ``s3a://``."""

from __future__ import annotations

from pathlib import Path

from lakehouse_contract.storage import ObjectUri, is_object_store


def read_text(conn_id: str, path: str) -> str | None:
    if not is_object_store(path):
        try:
            return Path(path).read_text()
        except OSError:
            return None
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook
    from botocore.exceptions import ClientError

    uri = ObjectUri.parse(path)
    try:  # one request: a missing document is the NoSuchKey error, not a second HEAD
        return S3Hook(aws_conn_id=conn_id).read_key(uri.key, uri.bucket)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("NoSuchKey", "404"):
            return None
        raise


def names(conn_id: str, folder: str) -> list[str]:
    """File names directly in ``folder`` (sorted)."""
    if not is_object_store(folder):
        base = Path(folder)
        return sorted(p.name for p in base.iterdir() if p.is_file()) if base.is_dir() else []
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    uri = ObjectUri.parse(folder)
    keys = S3Hook(aws_conn_id=conn_id).list_keys(uri.bucket, prefix=uri.key + "/", delimiter="/") or []
    return sorted(k.rsplit("/", 1)[-1] for k in keys if not k.endswith("/"))


def write_text(conn_id: str, path: str, text: str) -> None:
    """Write a document (a generated source file): a local file, or an object through S3Hook."""
    write_bytes(conn_id, path, text.encode())


def write_bytes(conn_id: str, path: str, data: bytes) -> None:
    """Write a file (a generated Parquet drop): a local file, or an object through S3Hook."""
    if not is_object_store(path):
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_bytes(data)
        return
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    uri = ObjectUri.parse(path)
    S3Hook(aws_conn_id=conn_id).load_bytes(data, uri.key, uri.bucket, replace=True)
