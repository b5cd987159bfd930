"""The project's object store (scripts/locals3.sh): a real SeaweedFS S3 gateway, built once per
machine from the Go module proxy, started on a free port with its own data folder.

Checked with an independent S3 client (pyarrow's, the AWS C++ SDK): the generated key pair writes,
lists and reads; a wrong key is refused; `down` stops the server.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from pyarrow import fs

from support.env import free_port, project_env, sh


@pytest.fixture(scope="module")
def object_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    state = tmp_path_factory.mktemp("s3_state")
    env = {**project_env(), "LAKEHOUSE_STATE_DIR": str(state), "LAKEHOUSE_S3_PORT": str(free_port(below=50000))}
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


def test_delta_on_the_object_store_through_s3a_read_back_without_spark(object_store: dict[str, str]) -> None:
    """Spark writes a Delta table to ``s3a://`` (hadoop-aws of pyspark's Hadoop, path-style, keys
    from the environment); pyarrow, reading the object store directly, replays the table's log
    and finds exactly the rows written, in two commits."""
    env = dict(object_store)
    for connect in ("LAKEHOUSE_SPARK_REMOTE", "SPARK_CONNECT_MODE_ENABLED", "SPARK_REMOTE", "MASTER"):
        env.pop(connect, None)  # a classic session of its own (the suite's Connect sessions set some of these)
    packages = sh(["bash", "-c", "source scripts/spark_packages.sh; echo $LAKEHOUSE_HADOOP_AWS_PACKAGE"], env=env)
    env["LAKEHOUSE_HADOOP_AWS_PACKAGE"] = packages.stdout.strip()
    probe = sh(["python", "tests/support/s3a_delta_probe.py", "s3a://lakehouse/delta/t"], env=env, timeout=900)
    assert "rows 100010" in probe.stdout
    assert env["LAKEHOUSE_S3_SECRET_KEY"] not in probe.stdout + probe.stderr  # not echoed by Spark or S3A

    s3 = _client(env, env["LAKEHOUSE_S3_ACCESS_KEY"], env["LAKEHOUSE_S3_SECRET_KEY"])
    log = sorted(i.path for i in s3.get_file_info(fs.FileSelector("lakehouse/delta/t/_delta_log"))
                 if i.path.endswith(".json"))  # fmt: skip
    assert [Path(p).name for p in log] == ["00000000000000000000.json", "00000000000000000001.json"]
    live: set[str] = set()
    for path in log:
        for line in s3.open_input_stream(path).read().decode().splitlines():
            action = json.loads(line)
            if "add" in action:
                live.add(action["add"]["path"])
            if "remove" in action:
                live.discard(action["remove"]["path"])
    rows = pa.concat_tables([pq.read_table(f"lakehouse/delta/t/{p}", filesystem=s3) for p in sorted(live)])
    got = sorted(zip(rows.column("id").to_pylist(), rows.column("k").to_pylist(), strict=True))
    assert got == [(i, i % 7) for i in range(100_010)]


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
