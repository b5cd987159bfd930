#!/usr/bin/env bash
# The real Airflow 3 services, locally: API server (UI), scheduler, DAG processor, triggerer with
# the LocalExecutor; metadata in the embedded PostgreSQL; connections from scripts/env.sh.
#   scripts/localairflow.sh up       migrate the metadata DB, start the four services (restarted when
#                                    they exit after running), wait until healthy
#   scripts/localairflow.sh down     stop them (no error when not running)
#   scripts/localairflow.sh status   print each service's health; exit 0 when all are healthy
# Settings (environment): LAKEHOUSE_AIRFLOW_PORT (8080), LAKEHOUSE_AIRFLOW_HOME (.local/airflow),
# LAKEHOUSE_AIRFLOW_DB (airflow), LAKEHOUSE_AIRFLOW_PARALLELISM (2), LAKEHOUSE_PIPELINES_DIR, LAKEHOUSE_ROOT.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$("$ROOT/scripts/env.sh")"
RUNDIR="$AIRFLOW_HOME/services"
SERVICES=(api-server scheduler dag-processor triggerer)
HEALTH="http://127.0.0.1:$AIRFLOW__API__PORT/api/v2/monitor/health"

pid_of() { local f="$RUNDIR/$1.pid"; [[ -f "$f" ]] && kill -0 "$(cat "$f")" 2>/dev/null && cat "$f"; }

health() { curl -fsS --max-time 5 "$HEALTH" 2>/dev/null; }

all_healthy() {
  # metadatabase, scheduler, triggerer and dag_processor all report "healthy"
  health | python -c 'import json,sys; h=json.load(sys.stdin); sys.exit(0 if all(v.get("status")=="healthy" for v in h.values() if isinstance(v, dict)) and len(h)>=4 else 1)' 2>/dev/null
}

cmd_up() {
  "$ROOT/scripts/localpg.sh" up >/dev/null
  "$ROOT/scripts/localpg.sh" createdb "${LAKEHOUSE_AIRFLOW_DB:-airflow}" airflow
  mkdir -p "$RUNDIR" "$AIRFLOW_HOME/logs"
  if (exec 3<>"/dev/tcp/127.0.0.1/$AIRFLOW__API__PORT") 2>/dev/null && [[ -z "$(pid_of api-server || true)" ]]; then
    echo "localairflow: port $AIRFLOW__API__PORT is taken by another process; set LAKEHOUSE_AIRFLOW_PORT" >&2; exit 1
  fi
  airflow db migrate >"$RUNDIR/db-migrate.log" 2>&1 || { tail -20 "$RUNDIR/db-migrate.log" >&2; exit 1; }
  # the simple auth manager reads the admin's password from this file (generated, git-ignored)
  (umask 077; printf '{"admin": "%s"}\n' "$LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD" >"$AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE")
  for svc in "${SERVICES[@]}"; do
    if [[ -n "$(pid_of "$svc" || true)" ]]; then continue; fi
    # supervised like docker-compose's `restart: always`: a service that exits (the scheduler does
    # when its metadata database restarts) is started again after 5 s; three exits in a row within
    # 30 s of starting leave it down, so a start-up failure is still reported below
    setsid nohup bash -c 'quick=0; while :; do
        started=$SECONDS; airflow "$0"; rc=$?
        if (( SECONDS - started < 30 )); then quick=$((quick + 1)); else quick=0; fi
        if (( quick >= 3 )); then echo "localairflow: $0 exited 3 times within 30 s (rc $rc): left down"; exit "$rc"; fi
        echo "localairflow: $0 exited (rc $rc) after $((SECONDS - started)) s: restarting in 5 s"; sleep 5
      done' "$svc" >"$RUNDIR/$svc.log" 2>&1 < /dev/null &
    echo $! >"$RUNDIR/$svc.pid"
  done
  for _ in $(seq 1 240); do
    if all_healthy; then
      cat <<MSG
localairflow: Airflow is up (LocalExecutor, parallelism $AIRFLOW__CORE__PARALLELISM, metadata DB ${LAKEHOUSE_AIRFLOW_DB:-airflow})
  UI        $AIRFLOW__API__BASE_URL   user: admin   password: $LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD
  logs      $RUNDIR/<service>.log, task logs in $AIRFLOW_HOME/logs
  stop with make down
MSG
      return
    fi
    for svc in "${SERVICES[@]}"; do
      if [[ -z "$(pid_of "$svc" || true)" ]]; then
        echo "localairflow: $svc exited during start-up; last log lines:" >&2; tail -30 "$RUNDIR/$svc.log" >&2
        cmd_down >/dev/null; exit 1
      fi
    done
    sleep 1
  done
  echo "localairflow: services not healthy within 240s ($HEALTH): $(health || echo unreachable)" >&2
  exit 1
}

cmd_down() {
  local stopped=0
  for svc in "${SERVICES[@]}"; do
    local pid; pid="$(pid_of "$svc" || true)"
    if [[ -n "$pid" ]]; then
      kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
      for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
      kill -KILL -- "-$pid" 2>/dev/null || true
      stopped=1
    fi
    rm -f "$RUNDIR/$svc.pid"
  done
  if [[ $stopped == 1 ]]; then echo "localairflow: stopped"; fi
}

cmd_status() {
  for svc in "${SERVICES[@]}"; do
    printf '  %-14s %s\n' "$svc" "$([[ -n "$(pid_of "$svc" || true)" ]] && echo "running (pid $(pid_of "$svc"))" || echo stopped)"
  done
  echo "  health: $(health || echo unreachable)"
  all_healthy
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) cmd_status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
