#!/usr/bin/env bash
# The project's S3-compatible object store: SeaweedFS (Apache-2.0) with its S3 gateway on 127.0.0.1.
# The `weed` binary is built once from the Go module proxy (Go toolchain on the machine) into
# $LAKEHOUSE_CACHE_DIR/seaweedfs/<version>/weed (default ~/.cache/inventory-lakehouse), shared by
# every clone on the machine; data lives under .local/s3; access keys are generated into
# .local/credentials.env (scripts/env.sh) and handed to the server as its S3 identity file.
#   scripts/locals3.sh build    build the binary if it is not cached (~4 min on 2 cores)
#   scripts/locals3.sh up       build if needed, start the server, create the bucket, wait until it answers
#   scripts/locals3.sh down     stop it (no error when not running)
#   scripts/locals3.sh status   exit 0 when the S3 gateway answers
# Settings: LAKEHOUSE_S3_PORT (18333), LAKEHOUSE_S3_BUCKET (lakehouse); the other SeaweedFS ports
# are derived from LAKEHOUSE_S3_PORT so two checkouts can run side by side.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$("$ROOT/scripts/env.sh")"
eval "$("$ROOT/scripts/localpg.sh" env)"  # the generated S3 key pair
MODULE="github.com/seaweedfs/seaweedfs"
VERSION="${LAKEHOUSE_SEAWEEDFS_VERSION:-v0.0.0-20261109003541-7506e5f91cd6}"
CACHE="${LAKEHOUSE_CACHE_DIR:-$HOME/.cache/inventory-lakehouse}/seaweedfs/$VERSION"
WEED="$CACHE/weed"
STATE="${LAKEHOUSE_STATE_DIR:-$ROOT/.local}/s3"
PORT="${LAKEHOUSE_S3_PORT:-18333}"
BUCKET="${LAKEHOUSE_S3_BUCKET:-lakehouse}"
PIDFILE="$STATE/weed.pid"
LOG="$STATE/weed.log"

is_up() { curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$PORT/" ; }

cmd_build() {
  if [[ -x "$WEED" ]]; then return; fi
  command -v go >/dev/null || { echo "locals3: the Go toolchain is needed to build SeaweedFS ($MODULE)" >&2; exit 2; }
  mkdir -p "$CACHE"
  echo "locals3: building SeaweedFS $VERSION from the Go module proxy (once per machine, ~4 min)"
  # `go install module@version` is refused (its go.mod has replace directives): build from the
  # downloaded module source instead, in a writable copy
  local dir work
  dir="$(go mod download -json "$MODULE@$VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')"
  work="$(mktemp -d)"
  cp -r "$dir/." "$work/src"
  chmod -R u+w "$work/src"
  (cd "$work/src" && CGO_ENABLED=0 go build -o "$CACHE/weed.tmp" ./weed)
  mv "$CACHE/weed.tmp" "$WEED"
  rm -rf "$work"
  echo "locals3: built $WEED"
}

identity_file() {
  # the server's S3 identities: one admin identity with the generated key pair
  (umask 077; python3 - "$STATE/s3.json" <<PY
import json, os, sys
json.dump({"identities": [{"name": "lakehouse", "credentials": [
    {"accessKey": os.environ["LAKEHOUSE_S3_ACCESS_KEY"], "secretKey": os.environ["LAKEHOUSE_S3_SECRET_KEY"]}],
    "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}, open(sys.argv[1], "w"))
PY
  )
}

cmd_up() {
  mkdir -p "$STATE/data"
  if is_up; then
    if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "locals3: S3 already on 127.0.0.1:$PORT"; return
    fi
    echo "locals3: port $PORT is taken by a server this checkout did not start; set LAKEHOUSE_S3_PORT" >&2
    exit 1
  fi
  cmd_build
  identity_file
  # non-default ports for every SeaweedFS service, derived from the S3 port
  setsid nohup "$WEED" server -ip=127.0.0.1 -ip.bind=127.0.0.1 -dir="$STATE/data" \
    -master.port=$((PORT + 1)) -volume.port=$((PORT + 2)) -filer.port=$((PORT + 3)) \
    -master.volumeSizeLimitMB=256 -volume.max=0 \
    -s3 -s3.port="$PORT" -s3.config="$STATE/s3.json" \
    >"$LOG" 2>&1 </dev/null &
  echo $! >"$PIDFILE"
  for _ in $(seq 1 120); do
    if is_up; then break; fi
    if ! kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
      echo "locals3: server exited during start-up; last log lines:" >&2; tail -30 "$LOG" >&2; exit 1
    fi
    sleep 1
  done
  is_up || { echo "locals3: S3 did not answer on 127.0.0.1:$PORT within 120 s (log $LOG)" >&2; exit 1; }
  # the bucket, through SeaweedFS's own shell (idempotent: an existing bucket is kept)
  echo "s3.bucket.create -name $BUCKET" | "$WEED" shell -master="127.0.0.1:$((PORT + 1))" >>"$LOG" 2>&1 || true
  echo "locals3: S3 on http://127.0.0.1:$PORT, bucket s3a://$BUCKET (log $LOG)"
}

cmd_down() {
  if [[ -f "$PIDFILE" ]] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; then
    local pid; pid="$(cat "$PIDFILE")"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    kill -KILL -- "-$pid" 2>/dev/null || true
    echo "locals3: stopped"
  fi
  rm -f "$PIDFILE"
}

case "${1:-}" in
  build) cmd_build ;;
  up) cmd_up ;;
  down) cmd_down ;;
  status) is_up && echo "locals3: S3 on 127.0.0.1:$PORT" ;;
  *) echo "usage: $0 build|up|down|status" >&2; exit 2 ;;
esac
