"""Paths, the project environment and a subprocess helper shared by the suites."""

from __future__ import annotations

import os
import shlex
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
IT_SCHEMA = "it_src"
IT_SF = 0.002
MONITOR_DB = "lakehouse_ops_test"


def project_env() -> dict[str, str]:
    """The environment scripts/env.sh defines (connections, Airflow home, Spark remote)."""
    out = subprocess.run([str(ROOT / "scripts" / "env.sh")], check=True, capture_output=True, text=True).stdout
    env = dict(os.environ)
    script = out + "\nenv -0"
    dumped = subprocess.run(["bash", "-c", script], check=True, capture_output=True, env=env).stdout
    for item in dumped.split(b"\0"):
        if b"=" in item:
            k, v = item.decode().split("=", 1)
            env[k] = v
    return env


def sh(cmd: str | list[str], env: dict[str, str] | None = None, check: bool = True, timeout: int = 900):
    args = shlex.split(cmd) if isinstance(cmd, str) else cmd
    proc = subprocess.run(args, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(f"{args} failed ({proc.returncode}):\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc


def free_port(below: int = 65536) -> int:
    """A TCP port nothing listens on now (below ``below``: servers that also take port + 10000)."""
    import socket

    while True:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        if port < below:
            return port


def port_is_free(port: int) -> bool:
    """Nothing listens on ``port`` now (a fixed port a server will take next to a free one)."""
    import socket

    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True
