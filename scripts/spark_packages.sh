# Maven coordinates of the jars Spark resolves with --packages, and where they are cached: outside
# the clone (~/.cache/inventory-lakehouse/ivy), so every clone and CI run on a machine downloads them once.
# delta-spark on PyPI and on Maven Central must be the same version (see requirements.txt).
ROOT="${ROOT:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
export LAKEHOUSE_SPARK_PACKAGES="${LAKEHOUSE_SPARK_PACKAGES:-io.delta:delta-spark_4.2_2.13:4.4.0,org.postgresql:postgresql:42.7.8}"
export LAKEHOUSE_IVY_DIR="${LAKEHOUSE_IVY_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/inventory-lakehouse/ivy}"
