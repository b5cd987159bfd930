"""Start-up of the local backend's jobs: a Spark Connect client runs through
``scripts/spark-connect-submit`` (the operator's command line, no JVM on the client side), and a
job under ``spark-submit`` imports the installed pyspark (cached bytecode) rather than its
pyspark.zip."""

from __future__ import annotations

from pathlib import Path

from lakehouse_airflow.operators.spark_env import CONNECT_SUBMIT, spark_submit_settings, submit_command
from lakehouse_airflow.paths import SPARK_ENTRYPOINT
from support.env import ROOT, sh


def _operator_command(job: Path, *args: str) -> list[str]:
    """The command line the operator's settings give a task, with ``job`` as its application."""
    return [str(job) if a == str(SPARK_ENTRYPOINT) else a for a in submit_command(list(args))]


def test_a_connect_client_job_runs_as_python_would_run_it_with_no_jvm(stack: dict[str, str], tmp_path: Path) -> None:
    """The factory's settings name the launcher; the command line the hook builds from them runs the
    application in a Python process whose ancestors hold no JVM, with the argv, ``__name__`` and
    ``sys.path[0]`` that ``python <application> [args]`` gives it."""
    assert spark_submit_settings() == {"spark_binary": str(CONNECT_SUBMIT)}  # LAKEHOUSE_SPARK_REMOTE is set
    job = tmp_path / "job.py"
    job.write_text(
        "import os, sys\n"
        "def cmdline(pid):\n"
        "    with open(f'/proc/{pid}/cmdline', 'rb') as f:\n"
        "        return f.read().replace(b'\\0', b' ').decode()\n"
        "def parent(pid):\n"
        "    with open(f'/proc/{pid}/stat') as f:\n"
        "        return int(f.read().rsplit(')', 1)[1].split()[1])\n"
        "chain, pid = [], os.getpid()\n"
        "while pid > 1 and len(chain) < 3:\n"
        "    chain.append(cmdline(pid)); pid = parent(pid)\n"
        "print('name:', __name__)\n"
        "print('argv:', sys.argv[1:])\n"
        "print('path0:', sys.path[0])\n"
        "print('java:', any('java' in c.split(' ')[0] for c in chain))\n"
        "print('chain:', chain)\n"
    )
    out = sh(_operator_command(job, "extract", "--spec", "{}"), env=stack).stdout
    assert "name: __main__" in out
    assert "argv: ['extract', '--spec', '{}']" in out
    assert f"path0: {tmp_path}" in out
    assert "java: False" in out, out
    assert str(CONNECT_SUBMIT) not in out.split("chain:")[1].split(",")[0]  # exec'd: the job is that process


def test_the_launcher_refuses_what_a_connect_client_cannot_honour(stack: dict[str, str], tmp_path: Path) -> None:
    """Packages, Spark settings, cluster deploy mode or no server: a clear error, the job never runs."""
    job = tmp_path / "job.py"
    job.write_text("print('job ran')\n")
    cases = {
        ("--packages", "io.delta:delta-spark_4.2_2.13:4.4.0"): "--packages: not supported",
        ("--conf", "spark.sql.shuffle.partitions=8"): "--conf spark.sql.shuffle.partitions: a Spark Connect client",
        ("--deploy-mode", "cluster"): "--deploy-mode cluster",
    }
    for options, message in cases.items():
        done = sh([str(CONNECT_SUBMIT), "--master", "local[1]", *options, str(job)], env=stack, check=False)
        assert done.returncode == 2 and message in done.stderr, (options, done.stderr)
        assert "job ran" not in done.stdout
    no_server = {**stack, "LAKEHOUSE_SPARK_REMOTE": ""}
    done = sh([str(CONNECT_SUBMIT), str(job)], env=no_server, check=False)
    assert done.returncode == 2 and "LAKEHOUSE_SPARK_REMOTE is empty" in done.stderr
    assert "job ran" not in done.stdout


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
    the operator's hook, unterminated output and log lines are not lost, and the server-side
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
    done = sh(_operator_command(job), env=stack, check=False)
    output = done.stdout + done.stderr
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
