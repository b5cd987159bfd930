#!/usr/bin/env bash
# Local Spark Connect server owned by the project: one warm JVM (local[N]) with Delta Lake and the
# PostgreSQL JDBC driver, shared by every job a task starts as its client (LAKEHOUSE_SPARK_REMOTE).
# Jars are resolved from Maven Central by Spark's --packages and cached in $LAKEHOUSE_IVY_DIR
# (default ~/.cache/inventory-lakehouse/ivy, shared by every clone on the machine).
#   scripts/localspark.sh up | down | status
#   scripts/localspark.sh run    the server in the foreground (containers: docker-compose.yaml)
# LAKEHOUSE_SPARK_MASTER (default local[LAKEHOUSE_SPARK_CORES]) may be a spark:// standalone master;
# a spark:// master makes the server the cluster's driver (executors elsewhere, LAKEHOUSE_SPARK_EXECUTOR_MEMORY
# each, default 2g); scripts/localcluster.sh starts one on this machine (`make cluster`).
# LAKEHOUSE_SPARK_BIND (default 127.0.0.1) is the address the Connect port listens on.
# LAKEHOUSE_SPARK_UI_PORT, when set, turns the Spark UI (and its REST API) on at that port.
# LAKEHOUSE_SPARK_DETACHED_TIMEOUT (default 60s): how long an operation whose client died is left
# running before the server interrupts it (the crash drills use a shorter one).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${LAKEHOUSE_SPARK_STATE:-${LAKEHOUSE_STATE_DIR:-$ROOT/.local}/spark}"  # pid, log, scratch
PORT="${LAKEHOUSE_SPARK_PORT:-15102}"
CORES="${LAKEHOUSE_SPARK_CORES:-2}"
MASTER="${LAKEHOUSE_SPARK_MASTER:-local[$CORES]}"
BIND="${LAKEHOUSE_SPARK_BIND:-127.0.0.1}"
MEMORY="${LAKEHOUSE_SPARK_MEMORY:-6g}"
PIDFILE="$STATE/connect.pid"
LOG="$STATE/connect.log"
export PATH="$ROOT/.venv/bin:$PATH"
SPARK_SUBMIT="${SPARK_SUBMIT:-spark-submit}"
# shellcheck source=scripts/spark_packages.sh
source "$ROOT/scripts/spark_packages.sh"
# the object store (scripts/locals3.sh) as the server's s3a:// file system: the endpoint is
# configuration, the key pair reaches the JVM in its environment only (S3A's environment
# credential provider), never on its command line
S3_ENDPOINT="${LAKEHOUSE_S3_ENDPOINT:-http://127.0.0.1:${LAKEHOUSE_S3_PORT:-18333}}"
if [[ -z "${AWS_ACCESS_KEY_ID:-}" ]]; then
  eval "$("$ROOT/scripts/localpg.sh" env)"
  export AWS_ACCESS_KEY_ID="$LAKEHOUSE_S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$LAKEHOUSE_S3_SECRET_KEY"
fi

SERVER_ARGS=(
  --class org.apache.spark.sql.connect.service.SparkConnectServer
  --name lakehouse-connect --master "$MASTER" --driver-memory "$MEMORY"
  --packages "$LAKEHOUSE_SPARK_PACKAGES,$LAKEHOUSE_HADOOP_AWS_PACKAGE" --conf "spark.jars.ivy=$LAKEHOUSE_IVY_DIR"
  --conf "spark.hadoop.fs.s3a.endpoint=$S3_ENDPOINT"
  --conf spark.hadoop.fs.s3a.endpoint.region=us-east-1
  --conf spark.hadoop.fs.s3a.path.style.access=true
  --conf "spark.hadoop.fs.s3a.connection.ssl.enabled=${LAKEHOUSE_S3_SSL:-false}"
  --conf spark.hadoop.fs.s3a.aws.credentials.provider=software.amazon.awssdk.auth.credentials.EnvironmentVariableCredentialsProvider
  --conf spark.sql.extensions=io.delta.sql.DeltaSparkSessionExtension
  --conf spark.sql.catalog.spark_catalog=org.apache.spark.sql.delta.catalog.DeltaCatalog
  --conf "spark.connect.grpc.binding.address=$BIND"
  --conf "spark.connect.grpc.binding.port=$PORT"
  --conf spark.executor.memory="${LAKEHOUSE_SPARK_EXECUTOR_MEMORY:-2g}"
  # a job whose process died (SIGKILL, lost worker) leaves its operation detached: interrupt it
  # after 60 s (Spark's default 5 min) so its tasks stop and it never commits behind the retry's back
  --conf "spark.connect.execute.manager.detachedTimeout=${LAKEHOUSE_SPARK_DETACHED_TIMEOUT:-60s}"
  --conf spark.connect.execute.manager.maintenanceInterval=10s
  --conf spark.sql.session.timeZone=UTC
  --conf spark.sql.shuffle.partitions=4
  --conf spark.databricks.delta.snapshotPartitions=2
  --conf spark.sql.sources.partitionOverwriteMode=static
  # Parquet's standard INT64 timestamps instead of Spark's legacy INT96: ~0.35 s less per 2M-row
  # bronze write (six timestamp columns), and what every other Parquet reader expects
  --conf spark.sql.parquet.outputTimestampType=TIMESTAMP_MICROS
  # file listings (VACUUM, partition discovery) in 8 tasks, not 10,000: ~1 s instead of ~1 min on 2 cores
  --conf spark.sql.sources.parallelPartitionDiscovery.parallelism=8
  --conf "spark.local.dir=$STATE/tmp"
)
if [[ -n "${LAKEHOUSE_SPARK_UI_PORT:-}" ]]; then
  SERVER_ARGS+=(--conf spark.ui.enabled=true --conf "spark.ui.port=$LAKEHOUSE_SPARK_UI_PORT")
else
  SERVER_ARGS+=(--conf spark.ui.enabled=false)
fi

is_up() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

cmd_up() {
  mkdir -p "$STATE"
  if is_up; then
    if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      running="$(cat "$STATE/connect.master" 2>/dev/null || echo "local[$CORES]")"
      if [[ -n "${LAKEHOUSE_SPARK_MASTER:-}" && "$running" != "$MASTER" ]]; then
        echo "localspark: the server on 127.0.0.1:$PORT runs on $running, not $MASTER;" \
          "stop it first (scripts/localspark.sh down)" >&2
        exit 1
      fi
      echo "localspark: Spark Connect already on 127.0.0.1:$PORT (master $running)"; return
    fi
    # a server this checkout did not start (another clone's, whose jars may be gone): never reuse it
    echo "localspark: port $PORT is taken by a server this checkout did not start (another clone?);" \
      "stop it (make down in its checkout) or set LAKEHOUSE_SPARK_PORT" >&2
    exit 1
  fi
  export SPARK_LOCAL_IP=127.0.0.1
  nohup "$SPARK_SUBMIT" "${SERVER_ARGS[@]}" \
    >"$LOG" 2>&1 &
  echo $! >"$PIDFILE"
  echo "$MASTER" >"$STATE/connect.master"
  for _ in $(seq 1 300); do
    if is_up; then echo "localspark: Spark Connect on 127.0.0.1:$PORT, master $MASTER (log $LOG)"; return; fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "localspark: server exited during start-up; last log lines:" >&2; tail -30 "$LOG" >&2; exit 1
    fi
    sleep 1
  done
  echo "localspark: server did not open port $PORT within 300s (log $LOG)" >&2; exit 1
}

cmd_down() {
  if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    pid="$(cat "$PIDFILE")"
    pkill -TERM -P "$pid" 2>/dev/null || true
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    echo "localspark: stopped"
  fi
  rm -f "$PIDFILE" "$STATE/connect.master"
}

case "${1:-}" in
  up) cmd_up ;;
  run) mkdir -p "$STATE"; exec "$SPARK_SUBMIT" "${SERVER_ARGS[@]}" ;;
  down) cmd_down ;;
  status) is_up ;;
  *) echo "usage: $0 up|down|status|run" >&2; exit 2 ;;
esac
