"""The local emulation of the Databricks REST API (databricks_emulator) as the Databricks suites
use it: started once per session on 127.0.0.1, reached through a normal Airflow connection, with
the package deployed to it (wheel, entry script, gold SQL, secrets in a secret scope)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest

from support.env import ROOT, sh

CONN_ID = "databricks_emulator"
SCOPE = "inventory-emulated"
ARTIFACTS = "/Volumes/emulated/inventory/artifacts"
LAKE = "/Volumes/emulated/inventory/lakehouse"


@dataclass
class Emulator:
    url: str
    token: str
    root: Path
    env: dict[str, str]
    secrets: list[str] = field(default_factory=list)

    def api(self, method: str, path: str, **kwargs) -> httpx.Response:
        headers = {"Authorization": f"Bearer {self.token}"}
        return httpx.request(method, f"{self.url}{path}", headers=headers, timeout=30, **kwargs)

    def runs(self) -> list[dict]:
        return self.api("GET", "/api/2.2/jobs/runs/list").json()["runs"]

    def launches(self, since: int = 0) -> list[dict]:
        """The emulator's meter: every cluster launched (after the first ``since``)."""
        return self.api("GET", "/api/2.0/emulator/meter").json()["launches"][since:]

    def client(self):
        from databricks.sdk import WorkspaceClient

        return WorkspaceClient(host=self.url, token=self.token)

    def lake(self) -> Path:
        return self.root / LAKE.lstrip("/")


def _start(root: Path, token: str, env: dict[str, str]) -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-m", "databricks_emulator", "--root", str(root), "--token", token],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert "listening on" in line, line
    return proc, line.split("listening on", 1)[1].strip()


@pytest.fixture(scope="session")
def emulator(stack: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    token = "dapi" + os.urandom(12).hex()
    root = tmp_path_factory.mktemp("databricks")
    proc, url = _start(root, token, stack)
    port = urlsplit(url).port
    conn = {"conn_type": "databricks", "host": "127.0.0.1", "port": port, "schema": "http", "password": token}
    env = {**stack, f"AIRFLOW_CONN_{CONN_ID.upper()}": json.dumps(conn), "LAKEHOUSE_ENV": "emulated"}
    emu = Emulator(url, token, root, env)
    emu.client().secrets.create_scope("inventory-empty")
    try:
        yield emu
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture(scope="session")
def deployed(emulator: Emulator, stack: dict[str, str], source_dsn: str) -> Emulator:
    out = sh(
        ["python", "-m", "lakehouse_airflow.databricks.deploy", "--env", "emulated", "--secrets"], env=emulator.env
    ).stdout
    assert f"-> {ARTIFACTS}/inventory_lakehouse-0.1.0-py3-none-any.whl" in out
    # the scope holds the JDBC credentials and the PII key of the local connections; payloads only name it
    dsn = urlsplit(source_dsn)
    pii_key = json.loads(stack["AIRFLOW_CONN_PII_HASH_KEY"])["password"]
    expected = {
        "jdbc-url": f"jdbc:postgresql://{dsn.hostname}:{dsn.port}{dsn.path}",
        "jdbc-user": str(dsn.username),
        "jdbc-password": str(dsn.password),
        "pii-hash-key": pii_key,
    }
    client = emulator.client()
    stored = {k: base64.b64decode(client.secrets.get_secret(SCOPE, k).value or "").decode() for k in expected}
    assert stored == expected
    emulator.secrets = [str(dsn.password), pii_key]
    assert not any(secret in out for secret in emulator.secrets)  # deploy prints key names only
    return emulator
