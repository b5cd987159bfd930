"""Start-up of the local backend's spark-submit clients: both JVMs map the class-data-sharing
archives that scripts/localspark.sh up dumps (scripts/client_cds.sh), and the job's Python imports
the installed pyspark (cached bytecode) rather than spark-submit's pyspark.zip."""

from __future__ import annotations

from pathlib import Path

from lakehouse_airflow.operators.spark_env import CDS_DIR, spark_submit_settings
from support.env import ROOT, sh


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


def test_jobs_import_the_installed_pyspark_not_the_zip(stack: dict[str, str], tmp_path: Path) -> None:
    job = tmp_path / "job.py"
    job.write_text(
        "import sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "print('zip first:', any(p.endswith('pyspark.zip') for p in sys.path[:3]))\n"
        "from spark_jobs.runtime.syspath import prefer_installed_pyspark\n"
        "print('moved:', prefer_installed_pyspark())\n"
        "import pyspark, py4j\n"
        "print('pyspark:', pyspark.__file__)\n"
        "print('py4j:', py4j.__file__)\n"
    )
    out = sh(["spark-submit", "--master", "local[1]", str(job)], env=stack).stdout
    assert "zip first: True" in out  # what spark-submit does, and why the helper exists
    assert "moved: True" in out
    assert ".zip" not in out.split("pyspark:")[1].split("\n")[0]
    assert ".zip" not in out.split("py4j:")[1].split("\n")[0]


def test_a_connect_job_exits_with_its_code_its_output_flushed_and_its_session_released(
    stack: dict[str, str], tmp_path: Path
) -> None:
    """``exit_process`` (spark_jobs/run.py's exit) ends the process at once: the code reaches
    spark-submit's caller, unterminated output and log lines are not lost, and the server-side
    session is released as the Connect client's own exit handler would have done."""
    job = tmp_path / "job.py"
    job.write_text(
        "import logging, sys\n"
        f"sys.path.insert(0, {str(ROOT)!r})\n"
        "from spark_jobs.runtime.session import exit_process, get_spark\n"
        "spark = get_spark('exit-test')\n"
        "assert spark.range(5).count() == 5\n"
        "logging.basicConfig(level=logging.INFO, stream=sys.stderr)\n"
        "logging.getLogger('job').info('log line before the exit')\n"
        "print('session', spark.session_id, end='')  # no newline: only a flush writes it\n"
        "exit_process(7)\n"
    )
    done = sh(["spark-submit", "--master", "local[1]", str(job)], env=stack, check=False)
    output = done.stdout + done.stderr  # spark-submit passes the job's stderr on as its stdout
    assert done.returncode == 7, output[-2000:]
    assert "log line before the exit" in output
    session_id = output.split("session ")[1][:36]
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import os, sys\n"
        "from pyspark.sql import SparkSession\n"
        "remote = os.environ['LAKEHOUSE_SPARK_REMOTE'].rstrip('/')\n"
        "spark = SparkSession.builder.remote(f'{remote}/;session_id={sys.argv[1]}').getOrCreate()\n"
        "try:\n"
        "    spark.range(1).count()\n"
        "    print('session alive')\n"
        "except Exception as exc:\n"
        "    print('session gone:', type(exc).__name__, str(exc)[:200])\n"
    )
    out = sh(["python", str(probe), session_id], env=stack).stdout
    assert "session gone:" in out and "SESSION_CLOSED" in out, out
