#!/usr/bin/env bash
# A real Spark standalone cluster on this machine, from the pyspark installation (no Docker): one
# master and LAKEHOUSE_CLUSTER_WORKERS workers (default 2, one core and LAKEHOUSE_CLUSTER_WORKER_MEMORY
# each), every one its own JVM. The project's Spark Connect server becomes the cluster's driver when
# it runs with LAKEHOUSE_SPARK_MASTER=spark://127.0.0.1:<port> (`make cluster` does both), so the
# jobs' tasks run on executors in the workers' JVMs.
#   scripts/localcluster.sh up | down | status | url
#   scripts/localcluster.sh kill-worker N    SIGKILL worker N and its executors (a lost machine)
# Ports: master LAKEHOUSE_CLUSTER_PORT (17077), its web UI +3 (17080), worker N's web UI +3+N.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${LAKEHOUSE_CLUSTER_STATE:-${LAKEHOUSE_STATE_DIR:-$ROOT/.local}/spark-cluster}"  # pids, logs, work dirs
PORT="${LAKEHOUSE_CLUSTER_PORT:-17077}"
UI_PORT=$((PORT + 3))
WORKERS="${LAKEHOUSE_CLUSTER_WORKERS:-2}"
WORKER_CORES="${LAKEHOUSE_CLUSTER_WORKER_CORES:-1}"
WORKER_MEMORY="${LAKEHOUSE_CLUSTER_WORKER_MEMORY:-3g}"
SPARK_HOME="${SPARK_HOME:-$("$ROOT/.venv/bin/python" -c 'import os, pyspark; print(os.path.dirname(pyspark.__file__))')}"
export SPARK_HOME SPARK_LOCAL_IP=127.0.0.1 SPARK_NO_DAEMONIZE=1
URL="spark://127.0.0.1:$PORT"
# executors inherit their worker's environment: the object store's key pair reaches S3A there as it
# does in the Connect server (environment credential provider), never on a command line
if [[ -z "${AWS_ACCESS_KEY_ID:-}" ]]; then
  eval "$("$ROOT/scripts/localpg.sh" env)"
  export AWS_ACCESS_KEY_ID="$LAKEHOUSE_S3_ACCESS_KEY" AWS_SECRET_ACCESS_KEY="$LAKEHOUSE_S3_SECRET_KEY"
fi

listening() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

start() {  # start <name> <port to wait for> <class> <args...>: own session (kill-worker takes its children too)
  local name="$1" wait_port="$2"; shift 2
  mkdir -p "$STATE/$name"
  if alive "$STATE/$name.pid"; then return; fi
  SPARK_LOCAL_DIRS="$STATE/$name/tmp" setsid nohup "$SPARK_HOME/bin/spark-class" "$@" \
    >"$STATE/$name.log" 2>&1 </dev/null &
  echo $! >"$STATE/$name.pid"
  for _ in $(seq 1 120); do
    if listening "$wait_port"; then return; fi
    if ! alive "$STATE/$name.pid"; then
      echo "localcluster: $name exited during start-up; last log lines:" >&2; tail -20 "$STATE/$name.log" >&2; exit 1
    fi
    sleep 0.5
  done
  echo "localcluster: $name did not open port $wait_port within 60 s (log $STATE/$name.log)" >&2; exit 1
}

registered_workers() {  # ALIVE workers the master knows
  python3 - "$UI_PORT" <<'PY'
import json, sys, urllib.request
state = json.load(urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/json/", timeout=5))
print(sum(w["state"] == "ALIVE" for w in state["workers"]))
PY
}

cmd_up() {
  mkdir -p "$STATE"
  if listening "$PORT" && ! alive "$STATE/master.pid"; then
    echo "localcluster: port $PORT is taken by a master this checkout did not start; set LAKEHOUSE_CLUSTER_PORT" >&2
    exit 1
  fi
  start master "$PORT" org.apache.spark.deploy.master.Master \
    --host 127.0.0.1 --port "$PORT" --webui-port "$UI_PORT"
  for n in $(seq 1 "$WORKERS"); do
    start "worker-$n" $((UI_PORT + n)) org.apache.spark.deploy.worker.Worker \
      --host 127.0.0.1 --cores "$WORKER_CORES" --memory "$WORKER_MEMORY" --webui-port $((UI_PORT + n)) \
      --work-dir "$STATE/worker-$n/work" "$URL"
  done
  for _ in $(seq 1 60); do
    if [[ "$(registered_workers 2>/dev/null || echo 0)" -ge "$WORKERS" ]]; then
      echo "localcluster: master $URL with $WORKERS workers (UI http://127.0.0.1:$UI_PORT, logs $STATE)"; return
    fi
    sleep 0.5
  done
  echo "localcluster: the workers did not register with $URL within 30 s (logs $STATE)" >&2; exit 1
}

stop() {  # stop <pidfile>: the process's whole session (a worker's executors with it)
  local pidfile="$1"
  if alive "$pidfile"; then
    kill -"${2:-TERM}" -- -"$(cat "$pidfile")" 2>/dev/null || kill -"${2:-TERM}" "$(cat "$pidfile")" 2>/dev/null || true
    for _ in $(seq 1 30); do alive "$pidfile" || break; sleep 0.5; done
  fi
  rm -f "$pidfile"
}

cmd_down() {
  local any=""
  for pidfile in "$STATE"/worker-*.pid "$STATE"/master.pid; do
    [[ -f "$pidfile" ]] || continue
    any=1; stop "$pidfile"
  done
  if [[ -n "$any" ]]; then echo "localcluster: stopped"; fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) listening "$PORT" && [[ "$(registered_workers)" -ge 1 ]] ;;
  url) echo "$URL" ;;
  kill-worker) stop "$STATE/worker-${2:?worker number}.pid" KILL ;;
  *) echo "usage: $0 up|down|status|url|kill-worker N" >&2; exit 2 ;;
esac
