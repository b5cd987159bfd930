"""Write a Delta table to the object store through Hadoop's S3A connector, from a classic local
Spark session (the suite's shared Connect server has no S3A configuration yet): an overwrite of
ids 0..99,999 then an append of 100,000..100,009, each with ``k = id % 7``.

    python tests/support/s3a_delta_probe.py s3a://bucket/prefix/table
Endpoint and keys come from the environment (LAKEHOUSE_S3_PORT, LAKEHOUSE_S3_ACCESS_KEY,
LAKEHOUSE_S3_SECRET_KEY), never from the command line.
"""

from __future__ import annotations

import os
import sys

from pyspark.sql import SparkSession


def main(uri: str) -> None:
    packages = f"{os.environ['LAKEHOUSE_SPARK_PACKAGES']},{os.environ['LAKEHOUSE_HADOOP_AWS_PACKAGE']}"
    spark = (
        SparkSession.builder.master("local[1]")
        .appName("s3a-delta-probe")
        .config("spark.jars.packages", packages)
        .config("spark.jars.ivy", os.environ["LAKEHOUSE_IVY_DIR"])
        .config("spark.ui.enabled", "false")
        .config("spark.sql.extensions", "io.delta.sql.DeltaSparkSessionExtension")
        .config("spark.sql.catalog.spark_catalog", "org.apache.spark.sql.delta.catalog.DeltaCatalog")
        .config("spark.hadoop.fs.s3a.endpoint", f"http://127.0.0.1:{os.environ['LAKEHOUSE_S3_PORT']}")
        .config("spark.hadoop.fs.s3a.endpoint.region", "us-east-1")
        .config("spark.hadoop.fs.s3a.path.style.access", "true")
        .config("spark.hadoop.fs.s3a.connection.ssl.enabled", "false")
        .config("spark.hadoop.fs.s3a.access.key", os.environ["LAKEHOUSE_S3_ACCESS_KEY"])
        .config("spark.hadoop.fs.s3a.secret.key", os.environ["LAKEHOUSE_S3_SECRET_KEY"])
        .getOrCreate()
    )
    spark.range(0, 100_000).selectExpr("id", "id % 7 AS k").write.format("delta").mode("overwrite").save(uri)
    spark.range(100_000, 100_010).selectExpr("id", "id % 7 AS k").write.format("delta").mode("append").save(uri)
    print("rows", spark.read.format("delta").load(uri).count())
    spark.stop()


if __name__ == "__main__":
    main(sys.argv[1])
