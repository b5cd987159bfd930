#!/usr/bin/env bash
# Print the environment every local command runs with: `eval "$(scripts/env.sh)"`.
# Connections come from AIRFLOW_CONN_* variables; passwords are the generated ones in
# .local/credentials.env (git-ignored), never literals in this repository.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
eval "$("$ROOT/scripts/localpg.sh" env)"
# shellcheck source=scripts/spark_packages.sh
source "$ROOT/scripts/spark_packages.sh"
STATE="${LAKEHOUSE_STATE_DIR:-$ROOT/.local}"
SPARK_PORT="${LAKEHOUSE_SPARK_PORT:-15102}"
SOURCE_DB="${LAKEHOUSE_SOURCE_DB:-DE}"
PG="127.0.0.1:$LAKEHOUSE_PG_PORT"
cat <<ENV
export PATH="$ROOT/.venv/bin:\$PATH"
export PYTHONPATH="$ROOT:$ROOT/plugins\${PYTHONPATH:+:\$PYTHONPATH}"
export SPARK_LOCAL_IP=127.0.0.1
export LAKEHOUSE_PG_PORT=$LAKEHOUSE_PG_PORT
export LAKEHOUSE_SPARK_PACKAGES="$LAKEHOUSE_SPARK_PACKAGES"
export LAKEHOUSE_IVY_DIR="$LAKEHOUSE_IVY_DIR"
export LAKEHOUSE_SPARK_REMOTE="\${LAKEHOUSE_SPARK_REMOTE-sc://127.0.0.1:$SPARK_PORT}"
export LAKEHOUSE_ROOT="\${LAKEHOUSE_ROOT:-$STATE/lakehouse}"
export AIRFLOW_HOME="\${LAKEHOUSE_AIRFLOW_HOME:-$STATE/airflow}"
export AIRFLOW__CORE__DAGS_FOLDER="$ROOT/dags"
export AIRFLOW__CORE__PLUGINS_FOLDER="$ROOT/plugins"
export AIRFLOW__CORE__LOAD_EXAMPLES=False
export AIRFLOW__CORE__EXECUTOR=LocalExecutor
export AIRFLOW__CORE__PARALLELISM="\${LAKEHOUSE_AIRFLOW_PARALLELISM:-2}"
export AIRFLOW__API__HOST=127.0.0.1
export AIRFLOW__API__PORT="\${LAKEHOUSE_AIRFLOW_PORT:-8080}"
export AIRFLOW__API__BASE_URL="http://localhost:\$AIRFLOW__API__PORT"
export AIRFLOW__API__WORKERS=1
export AIRFLOW__CORE__EXECUTION_API_SERVER_URL="http://127.0.0.1:\$AIRFLOW__API__PORT/execution/"
export AIRFLOW__API_AUTH__JWT_SECRET="$LAKEHOUSE_AIRFLOW_JWT_SECRET"
export LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD="$LAKEHOUSE_AIRFLOW_ADMIN_PASSWORD"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_USERS="admin:admin"
export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="\$AIRFLOW_HOME/simple_auth_manager_passwords.json"
export AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL=30
export AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION=True
export AIRFLOW__LOGGING__LOGGING_LEVEL=INFO
export AIRFLOW__DATABASE__SQL_ALCHEMY_CONN="postgresql+psycopg2://airflow:$LAKEHOUSE_AIRFLOW_DB_PASSWORD@$PG/\${LAKEHOUSE_AIRFLOW_DB:-airflow}"
export AIRFLOW_CONN_INVENTORY_SOURCE="postgresql://lakehouse:$LAKEHOUSE_SOURCE_PASSWORD@$PG/$SOURCE_DB"
export AIRFLOW_CONN_LAKEHOUSE_MONITOR="postgresql://airflow:$LAKEHOUSE_AIRFLOW_DB_PASSWORD@$PG/\${LAKEHOUSE_OPS_DB:-lakehouse_ops}"
export AIRFLOW_CONN_PII_HASH_KEY='{"conn_type": "generic", "password": "$LAKEHOUSE_PII_KEY"}'
export LAKEHOUSE_S3_PORT="\${LAKEHOUSE_S3_PORT:-18333}"
export AIRFLOW_CONN_LAKEHOUSE_S3="{\"conn_type\": \"aws\", \"login\": \"$LAKEHOUSE_S3_ACCESS_KEY\", \"password\": \"$LAKEHOUSE_S3_SECRET_KEY\", \"extra\": {\"endpoint_url\": \"http://127.0.0.1:\${LAKEHOUSE_S3_PORT}\", \"region_name\": \"us-east-1\"}}"
export AIRFLOW_CONN_SPARK_LOCAL='{"conn_type": "spark", "host": "local[1]", "extra": {"deploy-mode": "client"}}'
ENV
