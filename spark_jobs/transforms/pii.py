"""PII protection with Spark built-ins: keyed hash (HMAC-SHA256) and masked display forms.

HMAC is computed as ``H((K ^ opad) || H((K ^ ipad) || m))`` (RFC 2104) from ``sha2``/``unhex``
so it runs in the JVM (no Python UDF) and is identical locally and on Databricks. The key
arrives by secret reference (``spark_jobs.storage.secrets.resolve_key``) and is never logged.
"""

from __future__ import annotations

import hashlib

from pyspark.sql import Column
from pyspark.sql import functions as F

_BLOCK = 64  # SHA-256 block size in bytes


def _pads(key: bytes) -> tuple[bytearray, bytearray]:
    if len(key) > _BLOCK:
        key = hashlib.sha256(key).digest()
    key = key.ljust(_BLOCK, b"\0")
    return bytearray(b ^ 0x36 for b in key), bytearray(b ^ 0x5C for b in key)


def hmac_sha256(col: Column, key: bytes) -> Column:
    """Hex HMAC-SHA256 of the column's UTF-8 string form; NULL stays NULL."""
    inner_pad, outer_pad = _pads(key)
    message = col.cast("string").cast("binary")
    inner = F.unhex(F.sha2(F.concat(F.lit(inner_pad), message), 256))
    return F.when(col.isNull(), F.lit(None)).otherwise(F.sha2(F.concat(F.lit(outer_pad), inner), 256))


def mask(col: Column, kind: str) -> Column:
    """Display form that keeps no more than a hint of the value."""
    if kind == "email":
        return (
            F.when(col.isNull(), F.lit(None))
            .when(
                F.instr(col, "@") > 1, F.concat(F.substring(col, 1, 1), F.lit("***@"), F.substring_index(col, "@", -1))
            )
            .otherwise(F.lit("***"))
        )
    if kind == "phone":
        digits = F.regexp_replace(col, "[^0-9]", "")
        return F.when(col.isNull(), F.lit(None)).otherwise(F.concat(F.lit("***-"), F.substring(digits, -4, 4)))
    if kind == "name":
        words = F.split(F.trim(col), " +")
        initials = F.transform(words, lambda w: F.concat(F.substring(w, 1, 1), F.lit("***")))
        return F.when(col.isNull(), F.lit(None)).otherwise(F.array_join(initials, " "))
    if kind == "full":
        return F.when(col.isNull(), F.lit(None)).otherwise(F.lit("***"))
    raise ValueError(f"unknown mask kind {kind!r}")
