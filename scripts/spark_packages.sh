# Maven coordinates of the jars Spark resolves with --packages, and where they are cached: outside
# the clone (~/.cache/inventory-lakehouse/ivy), so every clone and CI run on a machine downloads them once.
# delta-spark on PyPI and on Maven Central must be the same version (see requirements.txt).
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export LAKEHOUSE_SPARK_PACKAGES="${LAKEHOUSE_SPARK_PACKAGES:-io.delta:delta-spark_4.2_2.13:4.4.0,org.postgresql:postgresql:42.7.8}"
export LAKEHOUSE_IVY_DIR="${LAKEHOUSE_IVY_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/inventory-lakehouse/ivy}"
# the Hadoop S3A connector for an s3a:// lakehouse (the object store, issue 16): the hadoop-aws
# release of the Hadoop that pyspark ships (pyspark/jars/hadoop-client-api-<version>.jar; a unit
# test holds them together); it pulls the AWS SDK bundle (~600 MB, cached like the rest)
export LAKEHOUSE_HADOOP_AWS_PACKAGE="${LAKEHOUSE_HADOOP_AWS_PACKAGE:-org.apache.hadoop:hadoop-aws:3.5.0}"
