"""What the emulated "cluster" gives a task, like a Databricks runtime does:

* the runtime's preinstalled libraries: the interpreter's own site-packages (pyspark, delta-spark,
  databricks-sdk), linked into an isolated virtual environment through a ``.pth`` file;
* the run's ``libraries`` / serverless ``dependencies`` wheels installed into that environment
  (``pip install --no-deps --target``), cached by wheel content, never the project's source tree;
  a PyPI requirement must already be met by the runtime (nothing is installed from PyPI here), or
  the task fails as a failed library install does;
* ``SparkSession.builder.getOrCreate()`` returning the cluster's session (``SPARK_REMOTE``, the local
  Spark Connect server), ``DATABRICKS_RUNTIME_VERSION``, and the workspace API for
  ``databricks.sdk.runtime.dbutils`` (secrets);
* ``/Volumes/...`` paths (the FUSE mount) backed by the emulator's storage directory, announced to
  the job as ``LAKEHOUSE_VOLUMES_MOUNT``;
* the cluster's ``spark_env_vars`` in the driver's environment, ``{{secrets/<scope>/<key>}}``
  references resolved from the emulated secret scopes (an ``s3a://`` lakehouse's key pair, say).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import threading
import venv
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

SECRET_REFERENCE = re.compile(r"\{\{\s*secrets/([^/{}\s]+)/([^/{}\s]+)\s*\}\}")  # in spark_env_vars
KEPT_ENV = ("PATH", "HOME", "LANG", "LC_ALL", "JAVA_HOME", "TMPDIR", "SPARK_LOCAL_IP", "TZ")


@dataclass
class Runtime:
    root: Path  # the emulator's storage: /Volumes under it, task environments in envs/
    base_url: str
    spark_remote: str
    token: str
    secrets: dict[str, dict[str, str]]  # the workspace's secret scopes (shared, live)
    local: Callable[[str], Path]  # a /Volumes path -> its backing file
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def driver_env(self, cluster: dict[str, Any] | None = None) -> dict[str, str]:
        """The driver's environment on the cluster: the runtime's variables and the cluster's
        ``spark_env_vars``, secret references resolved as a cluster resolves them at start (a
        missing secret fails the task; no value is ever reported)."""
        env = {k: v for k, v in os.environ.items() if k in KEPT_ENV}
        env.update(
            {
                "DATABRICKS_RUNTIME_VERSION": "17.3",
                "SPARK_REMOTE": self.spark_remote,
                "SPARK_CONNECT_MODE_ENABLED": "1",
                "DATABRICKS_HOST": self.base_url,
                "DATABRICKS_TOKEN": self.token,
                "LAKEHOUSE_VOLUMES_MOUNT": str(self.root),
                "PYTHONUNBUFFERED": "1",
            }
        )
        for name, value in ((cluster or {}).get("spark_env_vars") or {}).items():
            env[str(name)] = SECRET_REFERENCE.sub(self._secret, str(value))
        return env

    def _secret(self, ref: re.Match[str]) -> str:
        scope, key = ref[1], ref[2]
        try:
            return self.secrets[scope][key]
        except KeyError:
            raise LookupError(f"spark_env_vars: secret {key!r} of scope {scope!r} does not exist") from None

    def interpreter(self, payload: dict[str, Any], spec: dict[str, Any]) -> Path:
        """The interpreter of an isolated environment holding the task's wheels (cached by content)."""
        wheels = [lib["whl"] for lib in spec.get("libraries", []) if "whl" in lib]
        packages = [lib["pypi"]["package"] for lib in spec.get("libraries", []) if "pypi" in lib]
        if key := spec.get("environment_key"):
            for env in payload.get("environments", []):
                if env.get("environment_key") == key:
                    deps = env.get("spec", {}).get("dependencies", [])
                    wheels += [dep for dep in deps if dep.endswith(".whl")]
                    packages += [dep for dep in deps if not dep.endswith(".whl")]
        for requirement in packages:
            check_preinstalled(requirement)
        files = [self.local(w) for w in wheels]
        for path, name in zip(files, wheels, strict=True):
            if not path.is_file():
                raise FileNotFoundError(f"library {name} does not exist")
        digest = hashlib.sha256(b"".join(p.read_bytes() for p in files)).hexdigest()[:16]
        target = self.root / "envs" / digest
        python = target / "bin" / "python"
        with self._lock:
            if not python.exists():
                staging = target.with_suffix(".tmp")
                shutil.rmtree(staging, ignore_errors=True)
                venv.EnvBuilder(with_pip=False, symlinks=True).create(staging)
                site = next((staging / "lib").glob("python3*/site-packages"))
                (site / "_databricks_runtime.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
                if files:
                    subprocess.run(
                        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index", "--target",
                         str(site), *map(str, files)],
                        check=True, capture_output=True, text=True,
                    )  # fmt: skip
                staging.rename(target)
        return python


def check_preinstalled(requirement: str) -> None:
    """A PyPI library: the emulator installs nothing from PyPI, so the runtime (this interpreter)
    must already hold a version the requirement accepts; otherwise the run fails as a cluster
    whose library install failed would."""
    from importlib.metadata import PackageNotFoundError, version

    from packaging.requirements import Requirement

    wanted = Requirement(requirement)
    try:
        found = version(wanted.name)
    except PackageNotFoundError:
        raise LookupError(
            f"library {requirement}: not installable (the emulator's runtime lacks {wanted.name})"
        ) from None
    if not wanted.specifier.contains(found, prereleases=True):
        raise LookupError(f"library {requirement}: not installable (the emulator's runtime has {wanted.name} {found})")
