"""The job's own small files under the lakehouse root (step results, leases), on a local
directory or in an object-store bucket, behind one interface.

Tables and landing data go through Spark; only these control documents are read and written by the
job process itself. Both implementations give the guarantees the callers rely on:

* ``write_text``: readers see the old or the new document, never half of one (local: write a
  temporary file, rename; S3: a PUT is atomic);
* ``create_exclusive``: exactly one of several concurrent creators succeeds (local: ``os.link``;
  S3: a conditional PUT, ``If-None-Match: *``);
* ``replace_if`` / ``delete_if``: change a document only if it is still the version read (S3:
  ``If-Match`` on its ETag; local: one ``rename`` wins, the token is not compared).

The object store is reached with boto3 and the credentials of ``lakehouse_contract.storage``'s
environment variables (the Airflow operator sets them from an ``aws`` connection).
"""

from __future__ import annotations

import functools
import glob
import os
import shutil
import uuid
from pathlib import Path
from typing import Any, Protocol

from lakehouse_contract.storage import ENDPOINT_ENV, REGION_ENV, ObjectUri, is_object_store
from spark_jobs.runtime.errors import JobError


class ObjectStoreError(JobError):
    """The object store refused or failed a request (the message names the object, never a key)."""


class Files(Protocol):
    def read(self, path: str) -> tuple[str, str] | None:
        """(text, version token) of the document, or None if it does not exist."""

    def write_text(self, path: str, text: str) -> None: ...

    def create_exclusive(self, path: str, text: str) -> bool:
        """Create the document unless it exists; False when another writer was first."""

    def replace_if(self, path: str, text: str, token: str) -> bool: ...

    def delete_if(self, path: str, token: str | None = None) -> bool: ...

    def exists_with_prefix(self, prefix: str) -> bool:
        """True when a file / object whose path starts with ``prefix`` exists (directories and
        the object store's empty directory markers do not count)."""

    def listing(self, folder: str) -> dict[str, int]:
        """Every file under ``folder`` (recursively): path relative to it -> size in bytes."""


class LocalFiles:
    def read(self, path: str) -> tuple[str, str] | None:
        p = Path(path)
        try:
            return p.read_text(), str(p.stat().st_mtime_ns)
        except FileNotFoundError:
            return None

    def _tmp(self, path: str, text: str) -> Path:
        p = Path(path)
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.{uuid.uuid4().hex}")
        tmp.write_text(text)
        return tmp

    def write_text(self, path: str, text: str) -> None:
        os.replace(self._tmp(path, text), path)  # atomic: readers never see half a document

    def create_exclusive(self, path: str, text: str) -> bool:
        tmp = self._tmp(path, text)
        try:
            os.link(tmp, path)  # fails if the document exists
            return True
        except FileExistsError:
            return False
        finally:
            tmp.unlink(missing_ok=True)

    def replace_if(self, path: str, text: str, token: str) -> bool:
        os.replace(self._tmp(path, text), path)
        return True

    def delete_if(self, path: str, token: str | None = None) -> bool:
        p = Path(path)
        gone = p.with_name(f".{p.name}.deleted-{uuid.uuid4().hex}")
        try:
            os.rename(p, gone)  # one of several deleters wins
        except FileNotFoundError:
            return False
        gone.unlink()
        return True

    def exists_with_prefix(self, prefix: str) -> bool:
        p = Path(prefix)
        return p.parent.is_dir() and any(f.is_file() for f in p.parent.glob(f"{glob.escape(p.name)}*"))

    def listing(self, folder: str) -> dict[str, int]:
        base = Path(folder)
        if not base.is_dir():
            return {}
        return {str(f.relative_to(base)): f.stat().st_size for f in base.rglob("*") if f.is_file()}


@functools.cache
def _client() -> Any:
    import boto3  # only for an object-store root (present on Databricks runtimes too)
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=os.environ.get(ENDPOINT_ENV) or None,
        region_name=os.environ.get(REGION_ENV) or "us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 5, "mode": "standard"}),
    )


class S3Files:
    """Control documents in a bucket (``s3a://bucket/key`` paths)."""

    @staticmethod
    def _error(exc: Exception, verb: str, uri: ObjectUri) -> ObjectStoreError:
        code = getattr(exc, "response", {}).get("Error", {}).get("Code", type(exc).__name__)
        return ObjectStoreError(f"object store: {verb} {uri} failed: {code}")

    @staticmethod
    def _code(exc: Exception) -> str:
        return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))

    def _call(self, verb: str, path: str, method: str, **kwargs: Any) -> Any:
        from botocore.exceptions import BotoCoreError, ClientError

        uri = ObjectUri.parse(path)
        try:
            return getattr(_client(), method)(Bucket=uri.bucket, Key=uri.key, **kwargs)
        except ClientError as exc:
            if self._code(exc) in ("PreconditionFailed", "NoSuchKey", "404", "ConditionalRequestConflict"):
                return self._code(exc)
            raise self._error(exc, verb, uri) from None
        except BotoCoreError as exc:  # endpoint unreachable, no credentials, ...
            raise ObjectStoreError(f"object store: {verb} {uri} failed: {exc}") from None

    def read(self, path: str) -> tuple[str, str] | None:
        got = self._call("read", path, "get_object")
        if isinstance(got, str):
            return None
        return got["Body"].read().decode(), got["ETag"]

    def write_text(self, path: str, text: str) -> None:
        got = self._call("write", path, "put_object", Body=text.encode())
        if isinstance(got, str):
            raise ObjectStoreError(f"object store: write {path} failed: {got}")

    def create_exclusive(self, path: str, text: str) -> bool:
        return not isinstance(self._call("create", path, "put_object", Body=text.encode(), IfNoneMatch="*"), str)

    def replace_if(self, path: str, text: str, token: str) -> bool:
        return not isinstance(self._call("replace", path, "put_object", Body=text.encode(), IfMatch=token), str)

    def delete_if(self, path: str, token: str | None = None) -> bool:
        if token is None:
            return not isinstance(self._call("delete", path, "delete_object"), str)
        return not isinstance(self._call("delete", path, "delete_object", IfMatch=token), str)

    def exists_with_prefix(self, prefix: str) -> bool:
        from botocore.exceptions import BotoCoreError, ClientError

        uri = ObjectUri.parse(prefix)
        try:
            listed = _client().list_objects_v2(Bucket=uri.bucket, Prefix=uri.key, MaxKeys=5)
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "list", uri) from None
        return any(not o["Key"].endswith("/") for o in listed.get("Contents", []))

    def listing(self, folder: str) -> dict[str, int]:
        from botocore.exceptions import BotoCoreError, ClientError

        uri = ObjectUri.parse(folder)
        prefix = uri.key + "/" if uri.key else ""
        out: dict[str, int] = {}
        try:
            for page in _client().get_paginator("list_objects_v2").paginate(Bucket=uri.bucket, Prefix=prefix):
                for obj in page.get("Contents", []):
                    if not obj["Key"].endswith("/"):  # directory markers
                        out[obj["Key"][len(prefix) :]] = int(obj["Size"])
        except (ClientError, BotoCoreError) as exc:
            raise self._error(exc, "list", uri) from None
        return out


def copy_file(src: str, dst: str) -> None:
    """Copy one file between any two places (local paths, ``s3a://`` objects; object to object
    in one store is a server-side copy). The destination appears whole or not at all."""
    from_s3, to_s3 = is_object_store(src), is_object_store(dst)
    if not from_s3 and not to_s3:
        target = Path(dst)
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        shutil.copyfile(src, tmp)
        os.replace(tmp, target)
        return
    try:
        if from_s3 and to_s3:
            a, b = ObjectUri.parse(src), ObjectUri.parse(dst)
            _client().copy_object(Bucket=b.bucket, Key=b.key, CopySource={"Bucket": a.bucket, "Key": a.key})
        elif from_s3:
            a, target = ObjectUri.parse(src), Path(dst)
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
            _client().download_file(a.bucket, a.key, str(tmp))
            os.replace(tmp, target)
        else:
            b = ObjectUri.parse(dst)
            _client().upload_file(src, b.bucket, b.key)
    except Exception as exc:
        raise ObjectStoreError(f"object store: copy {src} -> {dst} failed: {type(exc).__name__}") from None


def ensure_root(root: str) -> None:
    """Create the root's directory, or its bucket when the store does not have it (a rebuild
    after the bucket was deleted)."""
    if not is_object_store(root):
        Path(root).mkdir(parents=True, exist_ok=True)
        return
    from botocore.exceptions import ClientError

    uri = ObjectUri.parse(root)
    try:
        _client().head_bucket(Bucket=uri.bucket)
    except ClientError as exc:
        if S3Files._code(exc) not in ("404", "NoSuchBucket", "NotFound"):
            raise S3Files._error(exc, "check bucket", uri) from None
        _client().create_bucket(Bucket=uri.bucket)


def files_for(root: str) -> Files:
    """The implementation for paths under ``root`` (a directory or an ``s3a://`` URI)."""
    return S3Files() if is_object_store(root) else LocalFiles()
