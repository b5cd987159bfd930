#!/usr/bin/env bash
# Embedded PostgreSQL owned by the project: data dir and port under the project, git-ignored.
#   scripts/localpg.sh up      initialise (first time) and start; idempotent
#   scripts/localpg.sh down    stop (no error when not running)
#   scripts/localpg.sh status  exit 0 when accepting connections
#   scripts/localpg.sh env     print shell exports for the generated credentials
#   scripts/localpg.sh createdb NAME OWNER [--fresh]   create a database if missing
# As root the server runs as the `postgres` OS user (PostgreSQL refuses to run as root).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
STATE="${LAKEHOUSE_STATE_DIR:-$ROOT/.local}"
PGROOT="$STATE/pg"
DATA="$PGROOT/data"
RUN="$PGROOT/run"
LOG="$PGROOT/server.log"
CREDS="$STATE/credentials.env"
PORT="${LAKEHOUSE_PG_PORT:-55432}"
BIN="${PG_BINDIR:-$(pg_config --bindir 2>/dev/null || true)}"
if [[ ! -x "$BIN/initdb" ]]; then
  for d in /usr/lib/postgresql/*/bin; do [[ -x "$d/initdb" ]] && BIN="$d"; done
fi
[[ -x "$BIN/initdb" ]] || { echo "localpg: PostgreSQL server binaries (initdb, pg_ctl) not found; install the postgresql package or set PG_BINDIR" >&2; exit 2; }

as_owner() {
  if [[ "$(id -u)" == "0" ]]; then runuser -u postgres -- "$@"; else "$@"; fi
}

ensure_credentials() {
  mkdir -p "$STATE"
  if [[ ! -f "$CREDS" ]]; then
    umask 077
    {
      echo "LAKEHOUSE_PG_PORT=$PORT"
      echo "LAKEHOUSE_PG_SUPERPASS=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)"
      echo "LAKEHOUSE_SOURCE_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)"
      echo "LAKEHOUSE_AIRFLOW_DB_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)"
    } > "$CREDS"
  fi
  # the HMAC key for PII in silver (added to credential files created before it existed)
  if ! grep -q '^LAKEHOUSE_PII_KEY=' "$CREDS"; then
    echo "LAKEHOUSE_PII_KEY=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)" >> "$CREDS"
  fi
  # the Airflow UI admin's password and the JWT secret every Airflow component shares
  if ! grep -q '^LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD=' "$CREDS"; then
    echo "LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 16)" >> "$CREDS"
  fi
  if ! grep -q '^LAKEHOUSE_AIRFLOW_JWT_SECRET=' "$CREDS"; then
    echo "LAKEHOUSE_AIRFLOW_JWT_SECRET=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)" >> "$CREDS"
  fi
  # the object store's (scripts/locals3.sh) S3 key pair
  if ! grep -q '^LAKEHOUSE_S3_ACCESS_KEY=' "$CREDS"; then
    echo "LAKEHOUSE_S3_ACCESS_KEY=LH$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Z0-9' | head -c 18)" >> "$CREDS"
    echo "LAKEHOUSE_S3_SECRET_KEY=$(head -c 48 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 40)" >> "$CREDS"
  fi
}

psql_super() {
  # local socket, trust auth for the OS owner only
  as_owner "$BIN/psql" -h "$RUN" -p "$PORT" -U postgres -v ON_ERROR_STOP=1 -qAt "$@"
}

is_up() { as_owner "$BIN/pg_isready" -h "$RUN" -p "$PORT" -q 2>/dev/null; }

cmd_up() {
  ensure_credentials
  # shellcheck disable=SC1090
  source "$CREDS"
  mkdir -p "$PGROOT" "$RUN"
  if [[ "$(id -u)" == "0" ]]; then chown postgres "$PGROOT" "$RUN"; fi
  if [[ ! -f "$DATA/PG_VERSION" ]]; then
    pwfile="$PGROOT/.pw"; printf '%s\n' "$LAKEHOUSE_PG_SUPERPASS" > "$pwfile"
    [[ "$(id -u)" == "0" ]] && chown postgres "$pwfile"
    as_owner "$BIN/initdb" -D "$DATA" -U postgres --pwfile="$pwfile" --auth-local=trust \
      --auth-host=scram-sha-256 -E UTF8 --locale=C.UTF-8 >"$PGROOT/initdb.log" 2>&1 \
      || { cat "$PGROOT/initdb.log" >&2; rm -f "$pwfile"; exit 1; }
    rm -f "$pwfile"
    cat >> "$DATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$RUN'
max_connections = 200
shared_buffers = 256MB
fsync = off
synchronous_commit = off
full_page_writes = off
max_wal_size = 2GB
CONF
  fi
  # change data capture (pgoutput slots) needs logical decoding; a data directory initialised
  # before that gets the setting appended, and a server running without it is restarted
  if ! grep -q "^wal_level = logical" "$DATA/postgresql.conf"; then
    printf 'wal_level = logical\nmax_replication_slots = 32\nmax_wal_senders = 16\n' >> "$DATA/postgresql.conf"
    if is_up; then as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 restart >/dev/null; fi
  fi
  if ! is_up; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -l "$LOG" -w -t 60 start >/dev/null \
      || { tail -20 "$LOG" >&2; exit 1; }
  fi
  # roles and databases (idempotent)
  psql_super -d postgres <<SQL
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'lakehouse') THEN CREATE ROLE lakehouse LOGIN; END IF;
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'airflow') THEN CREATE ROLE airflow LOGIN; END IF;
END \$\$;
ALTER ROLE lakehouse PASSWORD '$LAKEHOUSE_SOURCE_PASSWORD' REPLICATION;
ALTER ROLE airflow PASSWORD '$LAKEHOUSE_AIRFLOW_DB_PASSWORD';
SQL
  for pair in "airflow:airflow" "${LAKEHOUSE_SOURCE_DB:-DE}:lakehouse" "${LAKEHOUSE_OPS_DB:-lakehouse_ops}:airflow"; do
    db="${pair%%:*}"; owner="${pair##*:}"
    if [[ -z "$(psql_super -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
      psql_super -d postgres -c "CREATE DATABASE \"$db\" OWNER $owner"
    fi
  done
  echo "localpg: PostgreSQL on 127.0.0.1:$PORT (data $DATA)"
}

cmd_down() {
  if [[ -f "$DATA/PG_VERSION" ]] && is_up; then
    as_owner "$BIN/pg_ctl" -D "$DATA" -m fast -w stop >/dev/null
    echo "localpg: stopped"
  fi
}

cmd_env() {
  ensure_credentials
  # shellcheck disable=SC1090
  source "$CREDS"
  echo "export LAKEHOUSE_PG_PORT=$PORT"
  echo "export LAKEHOUSE_PG_SOCKET_DIR=$RUN"
  echo "export LAKEHOUSE_SOURCE_PASSWORD=$LAKEHOUSE_SOURCE_PASSWORD"
  echo "export LAKEHOUSE_AIRFLOW_DB_PASSWORD=$LAKEHOUSE_AIRFLOW_DB_PASSWORD"
  echo "export LAKEHOUSE_PII_KEY=$LAKEHOUSE_PII_KEY"
  echo "export LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD=$LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD"
  echo "export LAKEHOUSE_AIRFLOW_JWT_SECRET=$LAKEHOUSE_AIRFLOW_JWT_SECRET"
  echo "export LAKEHOUSE_S3_ACCESS_KEY=$LAKEHOUSE_S3_ACCESS_KEY"
  echo "export LAKEHOUSE_S3_SECRET_KEY=$LAKEHOUSE_S3_SECRET_KEY"
}

cmd_createdb() {
  # createdb NAME OWNER [--fresh]: create a database if missing (--fresh: drop it first)
  local db="$1" owner="$2" fresh="${3:-}"
  if [[ "$fresh" == "--fresh" ]]; then
    psql_super -d postgres -c "DROP DATABASE IF EXISTS \"$db\" WITH (FORCE)"
  fi
  if [[ -z "$(psql_super -d postgres -c "SELECT 1 FROM pg_database WHERE datname = '$db'")" ]]; then
    psql_super -d postgres -c "CREATE DATABASE \"$db\" OWNER $owner"
  fi
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  status) is_up ;;
  env) cmd_env ;;
  psql) shift; psql_super "$@" ;;
  createdb) shift; cmd_createdb "$@" ;;
  *) echo "usage: $0 up|down|status|env|psql [args]|createdb NAME OWNER [--fresh]" >&2; exit 2 ;;
esac
