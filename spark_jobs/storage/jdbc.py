"""Partitioned JDBC reads from the PostgreSQL source."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import DataFrame, SparkSession

from spark_jobs.storage.secrets import JdbcCredentials
from spark_jobs.storage.snapshot import session_init


@dataclass(frozen=True)
class SourceStats:
    row_count: int
    lower: int | None
    upper: int | None


def _reader(spark: SparkSession, creds: JdbcCredentials, fetch_size: int, snapshot: str | None = None):
    reader = (
        spark.read.format("jdbc")
        .option("url", creds.url)
        .option("user", creds.user)
        .option("password", creds.password)
        .option("driver", "org.postgresql.Driver")
        .option("fetchsize", fetch_size)
    )
    return reader.option("sessionInitStatement", session_init(snapshot)) if snapshot else reader


def _where(where: str | None) -> str:
    return f" WHERE {where}" if where else ""


def query(spark: SparkSession, creds: JdbcCredentials, sql: str) -> DataFrame:
    """The result of one SQL query on the source (small results: checks, counts)."""
    return _reader(spark, creds, 100).option("query", sql).load()


def source_columns(spark: SparkSession, creds: JdbcCredentials, source: str) -> dict[str, str]:
    """The source table's columns (name -> PostgreSQL data type) in table order."""
    schema, _, table = source.partition(".")
    query = (
        "SELECT column_name, data_type FROM information_schema.columns "
        f"WHERE table_schema = '{schema}' AND table_name = '{table}' ORDER BY ordinal_position"
    )
    rows = _reader(spark, creds, 100).option("query", query).load().collect()
    return {r["column_name"]: r["data_type"] for r in rows}


def source_stats(
    spark: SparkSession,
    creds: JdbcCredentials,
    source: str,
    partition_column: str | None,
    where: str | None = None,
    snapshot: str | None = None,
) -> SourceStats:
    """Row count and partition-column bounds (of the rows matching ``where``) in one round trip."""
    bounds = f", min({partition_column}) AS lo, max({partition_column}) AS hi" if partition_column else ""
    query = f"SELECT count(*) AS n{bounds} FROM {source}{_where(where)}"
    row = _reader(spark, creds, 10, snapshot).option("query", query).load().collect()[0]
    if partition_column:
        return SourceStats(int(row["n"]), row["lo"], row["hi"])
    return SourceStats(int(row["n"]), None, None)


def content_fingerprint(
    spark: SparkSession, creds: JdbcCredentials, source: str, columns: list[str], snapshot: str | None = None
) -> str:
    """``<rows>:<sum>`` of ``columns`` computed in PostgreSQL: the sum of each row's 64-bit md5
    prefix (order-free, exact numeric), so any inserted, deleted or changed row moves it. One scan
    in the database; nothing crosses the wire but one row."""
    row_text = f"ROW({', '.join(columns)})::text"
    query = (
        "SELECT count(*) AS n, coalesce(sum(('x' || substr(md5("
        f"{row_text}), 1, 16))::bit(64)::bigint::numeric), 0)::text AS h FROM {source}"
    )
    row = _reader(spark, creds, 10, snapshot).option("query", query).load().collect()[0]
    return f"{int(row['n'])}:{row['h']}"


def read_table(
    spark: SparkSession,
    creds: JdbcCredentials,
    source: str,
    columns: list[str],
    stats: SourceStats,
    partition_column: str | None,
    num_partitions: int,
    fetch_size: int,
    where: str | None = None,
    snapshot: str | None = None,
) -> DataFrame:
    """Read ``columns`` (rows matching ``where``); split on ``partition_column`` when there is a
    range; every connection on ``snapshot`` when given (``spark_jobs.storage.snapshot``)."""
    select = f"(SELECT {', '.join(columns)} FROM {source}{_where(where)}) AS src"
    reader = _reader(spark, creds, fetch_size, snapshot).option("dbtable", select)
    if partition_column and num_partitions > 1 and stats.lower is not None and stats.upper is not None:
        reader = (
            reader.option("partitionColumn", partition_column)
            .option("lowerBound", int(stats.lower))
            .option("upperBound", int(stats.upper) + 1)
            .option("numPartitions", num_partitions)
        )
    return reader.load()


# what the PostgreSQL JDBC driver (and psycopg) say when the server goes away under a session
_CONNECTION_LOST = (
    "terminating connection due to administrator command",
    "An I/O error occurred while sending to the backend",
    "This connection has been closed",
    "Connection to 127.0.0.1",
    "Connection refused",
    "server closed the connection unexpectedly",
    "the database system is shutting down",
    "the database system is starting up",
)


def connection_lost(exc: BaseException) -> str | None:
    """The driver's words when ``exc`` means the source server went away mid-read, else None."""
    text = str(exc)
    return next((marker for marker in _CONNECTION_LOST if marker in text), None)
