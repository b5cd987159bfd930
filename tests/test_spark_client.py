"""The local backend's spark-submit client JVMs start from the class-data-sharing archives that
scripts/localspark.sh up dumps (scripts/client_cds.sh)."""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import sh
from lakehouse_airflow.spark_env import CDS_DIR, spark_submit_settings

pytestmark = pytest.mark.spark


def test_both_spark_submit_jvms_map_their_archive(stack: dict[str, str], tmp_path: Path) -> None:
    settings = spark_submit_settings()  # LAKEHOUSE_SPARK_REMOTE is set: thin Connect clients
    client = str(settings["conf"]["spark.driver.extraJavaOptions"])  # type: ignore[index]
    launcher = str(settings["env_vars"]["SPARK_LAUNCHER_OPTS"])  # type: ignore[index]
    assert f"-XX:SharedArchiveFile={CDS_DIR / 'client.jsa'}" in client
    assert f"-XX:SharedArchiveFile={CDS_DIR / 'launcher.jsa'}" in launcher
    # -Xshare:on instead of auto: a JVM that cannot map its archive refuses to start
    strict = {k: v.replace("-Xshare:auto", "-Xshare:on") for k, v in (("client", client), ("launcher", launcher))}
    job = tmp_path / "job.py"
    job.write_text("print('client started')\n")
    out = sh(
        [
            "spark-submit",
            "--master",
            "local[1]",
            "--conf",
            f"spark.driver.extraJavaOptions={strict['client']}",
            str(job),
        ],
        env={**stack, "SPARK_LAUNCHER_OPTS": strict["launcher"]},
    )
    assert "client started" in out.stdout
