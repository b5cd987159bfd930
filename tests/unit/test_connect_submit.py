"""The Spark Connect launcher's reading of the command line the SparkSubmitOperator's hook builds."""

from __future__ import annotations

import pytest

from spark_jobs.runtime.connect_submit import Submission, UsageError, parse


def test_the_hooks_command_line_gives_the_application_and_its_arguments() -> None:
    argv = ["--master", "local[1]", "--name", "inventory.extract", "--deploy-mode", "client",
            "/app/run.py", "extract", "--spec", '{"a": 1}', "--conf", "x"]  # fmt: skip
    assert parse(argv) == Submission("/app/run.py", ["extract", "--spec", '{"a": 1}', "--conf", "x"])
    assert parse(["--master=local[2]", "run.py"]) == Submission("run.py", [])


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--packages", "io.delta:delta-spark_4.2_2.13:4.4.0", "run.py"], "--packages: not supported"),
        (["--conf", "spark.ui.enabled=false", "run.py"], "--conf spark.ui.enabled: a Spark Connect client"),
        (["--deploy-mode", "cluster", "run.py"], "--deploy-mode cluster"),
        (["--py-files", "deps.zip", "run.py"], "--py-files: not supported"),
        (["--master"], "--master needs a value"),
        (["--master", "local[1]"], "no application"),
    ],
)
def test_what_a_connect_client_cannot_honour_is_refused_by_name(argv: list[str], message: str) -> None:
    with pytest.raises(UsageError, match=message.replace("[", r"\[")):
        parse(argv)
