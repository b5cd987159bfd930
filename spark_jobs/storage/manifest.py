"""The file manifest: a Delta control table (``<bronze>.bz_file_manifest``) with one row per file a
file table has seen: its size and modification time when loaded, the slice (logical date) that owns
it, and whether it was loaded or skipped as bad.

A run claims its files here *before* it reads them (one commit replacing the table's partition),
so ownership never depends on a later step: a crash after the claim leaves the files owned by the
run's date, whose retry reloads them into the same slice (slice replace: no duplicates), and no
other date takes them meanwhile.
"""

from __future__ import annotations

import datetime as dt

from pyspark.sql import SparkSession

from spark_jobs.storage.delta_io import replace_slice
from spark_jobs.storage.tables import TableRef
from spark_jobs.transforms.file_plan import Claim, ManifestEntry, utc_naive

COLUMNS = (
    "table_name string, path string, size bigint, modification_time timestamp, logical_date date, "
    "replaced_date date, status string, error string, batch_id string, recorded_at timestamp"
)
LOADED, SKIPPED = "loaded", "skipped"


def read(spark: SparkSession, ref: TableRef, table: str) -> dict[str, ManifestEntry]:
    if not ref.exists():
        return {}
    rows = ref.read(spark).where(f"table_name = '{table}'").collect()
    return {
        r["path"]: ManifestEntry(
            r["path"],
            int(r["size"]),
            utc_naive(r["modification_time"]),
            r["logical_date"],
            r["replaced_date"],
            r["status"],
            r["error"],
            r["batch_id"],
        )  # fmt: skip
        for r in rows
    }


def claim(
    spark: SparkSession,
    ref: TableRef,
    table: str,
    known: dict[str, ManifestEntry],
    claims: list[Claim],
    bad: dict[str, str],
    logical_date: dt.date,
    batch_id: str,
) -> None:
    """Record ``claims`` as owned by ``logical_date`` (``bad`` ones as skipped, with why); every
    other entry stays as it is. One commit (the table's partition replaced)."""
    now = dt.datetime.now(dt.UTC)

    def utc(value: dt.datetime) -> dt.datetime:  # naive UTC -> an instant Spark stores as such
        return value.replace(tzinfo=dt.UTC)

    claimed = {c.file.path: c for c in claims}
    rows = []
    for path, e in known.items():
        if path not in claimed:
            rows.append((table, path, e.size, utc(e.modified), e.logical_date, e.replaced_date, e.status, e.error,
                         e.batch_id, now))  # fmt: skip
    for path, c in claimed.items():
        status = SKIPPED if path in bad else LOADED
        rows.append((table, path, c.file.size, utc(c.file.modified), logical_date, c.replaced_date, status,
                     bad.get(path), batch_id, now))  # fmt: skip
    frame = spark.createDataFrame(rows, COLUMNS)
    replace_slice(ref, frame, {"table_name": table}, partition_by=("table_name",))
