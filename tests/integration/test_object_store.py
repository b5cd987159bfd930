"""The project's object store (scripts/locals3.sh): a real SeaweedFS S3 gateway, built once per
machine from the Go module proxy, started on a free port with its own data folder.

Checked with an independent S3 client (pyarrow's, the AWS C++ SDK): the generated key pair writes,
lists and reads; a wrong key is refused; `down` stops the server.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
from pyarrow import fs

from support.env import project_env, sh


def _free_port() -> int:
    # SeaweedFS takes the port, the three after it and each one + 10000 (gRPC)
    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < 50000:
            return port


@pytest.fixture(scope="module")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("s3_state")
    env = {**project_env(), "LAKEHOUSE_STATE_DIR": str(state), "LAKEHOUSE_S3_PORT": str(_free_port())}
    # the key pair lives in the state folder's credentials file, as for the project's own store
    sh("scripts/locals3.sh up", env=env, timeout=900)
    creds = dict(line.split("=", 1) for line in (state / "credentials.env").read_text().split() if "=" in line)
    try:
        yield {**env, **creds}
    finally:
        sh("scripts/locals3.sh down", env=env, check=False)


def _client(env: dict[str, str], access_key: str, secret_key: str) -> fs.S3FileSystem:
    return fs.S3FileSystem(
        access_key=access_key, secret_key=secret_key, endpoint_override=f"http://127.0.0.1:{env['LAKEHOUSE_S3_PORT']}",
        scheme="http", region="us-east-1",
    )  # fmt: skip


def test_the_object_store_serves_s3_with_the_generated_keys_only(object_store: dict[str, str]) -> None:
    env = object_store
    s3 = _client(env, env["LAKEHOUSE_S3_ACCESS_KEY"], env["LAKEHOUSE_S3_SECRET_KEY"])
    payload = os.urandom(300_000)
    with s3.open_output_stream("lakehouse/probe/part-0.bin") as out:
        out.write(payload)
    listed = s3.get_file_info(fs.FileSelector("lakehouse/probe"))
    assert [(i.path, i.size) for i in listed] == [("lakehouse/probe/part-0.bin", len(payload))]
    assert s3.open_input_stream("lakehouse/probe/part-0.bin").read() == payload
    assert any(p.is_file() for p in Path(env["LAKEHOUSE_STATE_DIR"], "s3", "data").rglob("*"))  # data on our disk
    intruder = _client(env, "AKIANOTAKEY", "not-the-secret")
    with pytest.raises(OSError, match="INVALID_ACCESS_KEY_ID|AccessDenied|SignatureDoesNotMatch"):
        intruder.get_file_info(fs.FileSelector("lakehouse/probe"))
    sh("scripts/locals3.sh down", env=env)
    assert sh("scripts/locals3.sh status", env=env, check=False).returncode != 0
