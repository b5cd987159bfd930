#!/usr/bin/env bash
# The DAG on the Databricks backend, against the local Databricks emulator (`make databricks-demo`):
# start the emulator, deploy the wheel + entry script + SQL and the secret scope (databricks-sdk),
# run `airflow dags test` with LAKEHOUSE_ENV=emulated, print the per-table report, stop the emulator.
#   scripts/databricks_demo.sh DAG DATE
# Settings: LAKEHOUSE_DATABRICKS_PORT (18611); storage of /Volumes in .local/databricks.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$("$ROOT/scripts/env.sh")"
DAG="${1:?usage: databricks_demo.sh DAG DATE}"
DATE="${2:?usage: databricks_demo.sh DAG DATE}"
STORE="${LAKEHOUSE_STATE_DIR:-$ROOT/.local}/databricks"
PORT="${LAKEHOUSE_DATABRICKS_PORT:-18611}"
TOKEN="dapi$(head -c 12 /dev/urandom | od -An -tx1 | tr -d ' \n')"
mkdir -p "$STORE" "$ROOT/.local/logs"
if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
  echo "databricks-demo: port $PORT is taken; set LAKEHOUSE_DATABRICKS_PORT" >&2; exit 1
fi
python -m databricks_emulator --root "$STORE" --port "$PORT" --token "$TOKEN" >"$STORE/emulator.log" 2>&1 &
EMULATOR=$!
trap 'kill $EMULATOR 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do grep -q "listening on" "$STORE/emulator.log" && break; sleep 0.2; done
grep -q "listening on" "$STORE/emulator.log" || { cat "$STORE/emulator.log" >&2; exit 1; }
export AIRFLOW_CONN_DATABRICKS_EMULATOR="{\"conn_type\": \"databricks\", \"host\": \"127.0.0.1\", \"port\": $PORT, \"schema\": \"http\", \"password\": \"$TOKEN\"}"
export LAKEHOUSE_ENV=emulated
python -m lakehouse_airflow.databricks.deploy --secrets
LOG="$ROOT/.local/logs/databricks-demo-$DATE.log"
echo "running airflow dags test $DAG $DATE on the emulated Databricks backend (log: $LOG)"
rc=0
airflow dags test "$DAG" "$DATE" >"$LOG" 2>&1 || rc=$?
LAKE="$STORE/Volumes/emulated/inventory/lakehouse"
python -m lakehouse_airflow.run_job report --lakehouse-root "$LAKE" --dag-id "$DAG" 2>/dev/null
echo "runs, driver logs and tables: $STORE (tables under $LAKE)"
exit "$rc"
