"""Where the lakehouse lives: a local (or mounted) directory, or an object-store URI.

A root ``s3a://<bucket>/<prefix>`` puts every table, landing file, step result and lease in an
S3-compatible bucket. Spark reaches it through Hadoop's S3A connector (the Spark server holds the
endpoint and its own credentials, as a cluster does); the job process itself reads and writes its
small control files (step results, leases) with the credentials the Airflow operator resolves
from an ``aws`` connection into the environment variables below (standard AWS names, so boto3 and
Hadoop's environment credential provider understand them). They never travel in argv.
"""

from __future__ import annotations

from dataclasses import dataclass

OBJECT_STORE_SCHEMES = ("s3a", "s3")
# environment variable names of the object-store credentials (AWS SDK conventions)
ACCESS_KEY_ENV = "AWS_ACCESS_KEY_ID"
SECRET_KEY_ENV = "AWS_SECRET_ACCESS_KEY"
ENDPOINT_ENV = "AWS_ENDPOINT_URL_S3"
REGION_ENV = "AWS_REGION"
OBJECT_STORE_ENV = (ACCESS_KEY_ENV, SECRET_KEY_ENV, ENDPOINT_ENV, REGION_ENV)
DEFAULT_STORAGE_CONN_ID = "lakehouse_s3"


class StorageUriError(ValueError):
    """An object-store URI is malformed."""


def is_object_store(root: str) -> bool:
    scheme, sep, _ = root.partition("://")
    return bool(sep) and scheme in OBJECT_STORE_SCHEMES


@dataclass(frozen=True)
class ObjectUri:
    scheme: str
    bucket: str
    key: str  # no leading slash; "" for the bucket itself

    @classmethod
    def parse(cls, uri: str) -> ObjectUri:
        scheme, sep, rest = uri.partition("://")
        if not sep or scheme not in OBJECT_STORE_SCHEMES:
            raise StorageUriError(f"not an object-store URI (expected s3a://bucket/prefix): {uri!r}")
        bucket, _, key = rest.partition("/")
        if not bucket:
            raise StorageUriError(f"object-store URI without a bucket: {uri!r}")
        return cls(scheme, bucket, key.strip("/"))

    def __str__(self) -> str:
        return f"{self.scheme}://{self.bucket}/{self.key}".rstrip("/")
