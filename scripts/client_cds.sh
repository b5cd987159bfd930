#!/usr/bin/env bash
# Class-data-sharing archives for the two short-lived JVMs every local Spark task starts
# (spark-submit's launcher, then the client that hosts the job's Python process); see
# plugins/lakehouse_airflow/spark_env.py. Dumped once per Java + pyspark version, ~7 s; a failed
# dump only costs speed (the JVM ignores a missing archive), so it never fails the caller.
#   scripts/client_cds.sh        (called by scripts/localspark.sh up)
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DIR="${LAKEHOUSE_CDS_DIR:-$ROOT/.cache/cds}"
export PATH="$ROOT/.venv/bin:$PATH"
py() { PYTHONPATH="$ROOT/plugins" python -c "$1"; }

stamp="$(java -version 2>&1 | head -1) pyspark $(py 'import importlib.metadata as m; print(m.version("pyspark"))')"
if [[ -f "$DIR/client.jsa" && -f "$DIR/launcher.jsa" && "$(cat "$DIR/stamp" 2>/dev/null)" == "$stamp" ]]; then
  exit 0
fi
mkdir -p "$DIR"
rm -f "$DIR/client.jsa" "$DIR/launcher.jsa" "$DIR/stamp"
opts="$(py 'from lakehouse_airflow.operators.spark_env import CLIENT_JVM_OPTIONS; print(CLIENT_JVM_OPTIONS)')"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
echo "pass" >"$work/noop.py"
if SPARK_LAUNCHER_OPTS="$opts -XX:ArchiveClassesAtExit=$DIR/launcher.jsa" spark-submit --master 'local[1]' \
    --conf spark.ui.enabled=false --conf "spark.driver.extraJavaOptions=$opts -XX:ArchiveClassesAtExit=$DIR/client.jsa" \
    "$work/noop.py" >"$DIR/dump.log" 2>&1 && [[ -f "$DIR/client.jsa" && -f "$DIR/launcher.jsa" ]]; then
  echo "$stamp" >"$DIR/stamp"
  echo "client_cds: spark-submit class-data-sharing archives in $DIR"
else
  echo "client_cds: could not dump the archives (tasks still run, ~1 s slower each); see $DIR/dump.log" >&2
fi
