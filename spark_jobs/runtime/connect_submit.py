"""``spark-submit`` for Spark Connect clients: run a PySpark job with no JVM on the client side.

A job of the local backend with ``LAKEHOUSE_SPARK_REMOTE`` set is a Spark Connect client: its
Spark is the shared server's, and ``spark-submit`` would only start a launcher JVM and then a
client JVM that hosts the job's Python process and nothing else (~0.8 s of every task on two
cores, docs/performance.md). The provider's SparkSubmitOperator runs ``scripts/spark-connect-submit``
instead (its ``spark_binary``: the hook, its command line, log streaming, environment and kill are
the provider's), which runs this module (``-m``) with the Python ``spark-submit`` would have used.

It takes the command line the hook builds (``[options] <application.py> [application args]``),
refuses anything a JVM-less client cannot honour -- no silent difference from ``spark-submit`` --
and runs the application in this process as ``python <application.py> [args]`` would: the
application's directory first on ``sys.path``, ``sys.argv`` = the application and its arguments,
``__name__ == "__main__"``. Its exit code is this process's.
"""

from __future__ import annotations

import os
import runpy
import sys
from dataclasses import dataclass, field

from lakehouse_contract.runtime import SPARK_REMOTE_ENV

PROG = "spark-connect-submit"
# options the hook sends from the connection and the operator that mean nothing to a Connect client
# (where its queries run is the server's business): taken and not used
IGNORED = {"--master", "--name"}


class UsageError(Exception):
    pass


@dataclass
class Submission:
    application: str
    args: list[str] = field(default_factory=list)


def parse(argv: list[str]) -> Submission:
    """The application and its arguments of a ``spark-submit`` command line; a ``UsageError``
    naming the first option a Spark Connect client cannot honour."""
    i = 0
    while i < len(argv):
        option = argv[i]
        if not option.startswith("--"):
            return Submission(option, argv[i + 1 :])
        name, _, inline = option.partition("=")
        value = inline if inline else (argv[i + 1] if i + 1 < len(argv) else None)
        if value is None:
            raise UsageError(f"{name} needs a value")
        i += 1 if inline else 2
        if name in IGNORED:
            continue
        if name == "--deploy-mode":
            if value != "client":
                raise UsageError(f"--deploy-mode {value}: a Spark Connect client runs where it is started (client)")
            continue
        if name == "--conf":
            raise UsageError(
                f"--conf {value.split('=', 1)[0]}: a Spark Connect client has no Spark of its own; "
                "configure the Spark Connect server (scripts/localspark.sh) or run spark-submit without "
                f"{SPARK_REMOTE_ENV}"
            )
        raise UsageError(
            f"{name}: not supported for a Spark Connect client (the server holds the packages, jars and "
            f"resources); run spark-submit without {SPARK_REMOTE_ENV}"
        )
    raise UsageError("no application (a .py file) given")


def main(argv: list[str]) -> None:
    try:
        if not os.environ.get(SPARK_REMOTE_ENV, "").strip():
            raise UsageError(
                f"{SPARK_REMOTE_ENV} is empty: no Spark Connect server to run the job on; use spark-submit"
            )
        submission = parse(argv)
        if not submission.application.endswith(".py"):
            raise UsageError(f"{submission.application}: only Python applications run as Spark Connect clients")
    except UsageError as exc:
        print(f"{PROG}: {exc}", file=sys.stderr)
        raise SystemExit(2) from None
    application = os.path.abspath(submission.application)
    sys.path.insert(0, os.path.dirname(application))  # as `python <application>` has it (-P: not the cwd)
    sys.argv = [application, *submission.args]
    runpy.run_path(application, run_name="__main__")


if __name__ == "__main__":
    main(sys.argv[1:])
