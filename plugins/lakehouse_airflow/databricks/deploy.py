"""Deploy the Spark jobs to a Databricks environment: ``python -m lakehouse_airflow.databricks.deploy --env dev``.

Builds ``spark_jobs/`` as a wheel and uploads, with the databricks-sdk Files API, what the runs/submit
payloads reference under the environment's ``artifacts_path``: the wheel, the entry script
``spark_jobs/run.py`` (only the script: the package comes from the wheel) and every gold SQL file.
Credentials: the environment's Airflow connection (host, token, schema/port) when it is defined
(``AIRFLOW_CONN_<ID>``), otherwise the SDK's unified auth (DATABRICKS_HOST/DATABRICKS_TOKEN, profile).
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from lakehouse_airflow.config.environments import DatabricksConfig, current_environment, load_environments
from lakehouse_airflow.config.pipeline import load_pipelines
from lakehouse_airflow.databricks.payload import remote_path
from lakehouse_airflow.describe.pipeline import pipeline_specs
from lakehouse_airflow.describe.tasks import SparkTask
from lakehouse_airflow.paths import PIPELINES_DIR, PROJECT_ROOT, SPARK_ENTRYPOINT
from lakehouse_contract.secrets import OBJECT_STORE_SCOPE_KEYS, SCOPE_KEYS
from lakehouse_contract.specs import GoldSpec
from lakehouse_contract.storage import is_object_store

ENTRY_SCRIPT = SPARK_ENTRYPOINT


def build_wheel(out_dir: Path) -> Path:
    """``pip wheel`` of the project (the spark_jobs package only, see pyproject.toml)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--wheel-dir", str(out_dir), str(PROJECT_ROOT)],
        check=True,
    )
    wheels = sorted(out_dir.glob("*.whl"))
    if len(wheels) != 1:
        raise RuntimeError(f"expected one wheel in {out_dir}, found {[w.name for w in wheels]}")
    return wheels[0]


def sql_files(pipelines_dir: Path = PIPELINES_DIR) -> Iterator[Path]:
    """Every file a job reads by path (the gold models' SQL), from the pipeline configs."""
    seen: set[Path] = set()
    for cfg in load_pipelines(pipelines_dir):
        for task in pipeline_specs(cfg):
            if isinstance(task, SparkTask) and isinstance(task.spec, GoldSpec) and Path(task.spec.sql_file) not in seen:
                seen.add(Path(task.spec.sql_file))
                yield Path(task.spec.sql_file)


def artifacts(wheel: Path, env: DatabricksConfig) -> list[tuple[Path, str]]:
    """(local file, workspace path) of everything a run needs."""
    if wheel.name != env.wheel:
        raise ValueError(f"built {wheel.name} but the environment's payloads reference {env.wheel}")
    files = [(wheel, f"{env.artifacts_path.rstrip('/')}/{env.wheel}"), (ENTRY_SCRIPT, remote_path(ENTRY_SCRIPT, env))]
    return files + [(sql, remote_path(sql, env)) for sql in sql_files()]


def workspace_client(conn_id: str):
    """A WorkspaceClient for the environment's Airflow connection, or the SDK's default auth."""
    import os

    from databricks.sdk import WorkspaceClient

    if f"AIRFLOW_CONN_{conn_id.upper()}" not in os.environ:
        return WorkspaceClient()
    from airflow.providers.databricks.hooks.databricks import DatabricksHook

    hook = DatabricksHook(conn_id)
    conn = hook.databricks_conn
    scheme = conn.schema or "https"
    port = f":{conn.port}" if conn.port else ""
    return WorkspaceClient(host=f"{scheme}://{hook.host}{port}", token=conn.password)


def scope_secrets(pipelines_dir: Path = PIPELINES_DIR, object_store: bool = False) -> dict[str, str]:
    """Secret scope key -> value, from the Airflow connections the pipelines use locally;
    ``object_store``: also the key pair of their storage connection (an s3a:// lakehouse root)."""
    from lakehouse_airflow.operators.secrets import jdbc_env, object_store_env, pii_key_env

    values: dict[str, str] = {}
    for cfg in load_pipelines(pipelines_dir):
        needs: list[dict[str, str]] = []
        if object_store:
            keys = object_store_env(cfg.lakehouse.storage_conn_id)
            needs.append({name: keys[name] for name in OBJECT_STORE_SCOPE_KEYS})
        for spec in pipeline_specs(cfg):
            if isinstance(spec, SparkTask):
                needs.append({
                    **(jdbc_env(spec.source_conn_id) if spec.source_conn_id else {}),
                    **(pii_key_env(spec.pii_key_conn_id) if spec.pii_key_conn_id else {}),
                })  # fmt: skip
        for found in needs:
            for name, value in found.items():
                key = SCOPE_KEYS[name]
                if values.setdefault(key, value) != value:
                    raise ValueError(
                        f"pipelines need two different values for secret key {key}: one scope cannot hold both"
                    )
    return values


def put_secrets(client, scope: str, values: dict[str, str]) -> None:
    """Create the scope if needed and put every key (values are never printed)."""
    from databricks.sdk.errors import ResourceAlreadyExists

    try:
        client.secrets.create_scope(scope)
    except ResourceAlreadyExists:
        pass
    for key, value in values.items():
        client.secrets.put_secret(scope, key, string_value=value)
        print(f"secret {scope}/{key} set")


def deploy(env_name: str | None = None, wheel: Path | None = None, secrets: bool = False) -> list[str]:
    """Upload the artifacts of ``env_name`` (default: LAKEHOUSE_ENV); returns the workspace paths."""
    env = load_environments()[env_name] if env_name else current_environment()
    if env.backend != "databricks" or env.databricks is None:
        raise ValueError(f"environment {env.name!r} has backend {env.backend!r}: nothing to deploy")
    client = workspace_client(env.databricks.conn_id)
    if secrets:
        put_secrets(client, env.databricks.secret_scope,
                    scope_secrets(object_store=is_object_store(env.databricks.lakehouse_root)))  # fmt: skip
    with tempfile.TemporaryDirectory() as tmp:
        built = wheel or build_wheel(Path(tmp))
        uploaded = []
        for local, remote in artifacts(built, env.databricks):
            client.files.create_directory(remote.rsplit("/", 1)[0])
            client.files.upload(remote, io.BytesIO(local.read_bytes()), overwrite=True)
            uploaded.append(remote)
            print(f"uploaded {local.name if local == built else local.relative_to(PROJECT_ROOT)} -> {remote}")
    return uploaded


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="lakehouse_airflow.databricks.deploy", description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", help="environment of include/environments.yaml (default: LAKEHOUSE_ENV)")
    parser.add_argument("--wheel", type=Path, help="an already built wheel instead of building one")
    parser.add_argument(
        "--secrets",
        action="store_true",
        help="also put the secret scope's keys from the Airflow connections the pipelines use",
    )
    args = parser.parse_args(argv)
    deploy(args.env, args.wheel, args.secrets)
    return 0


if __name__ == "__main__":
    sys.exit(main())
