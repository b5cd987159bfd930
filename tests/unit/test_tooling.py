"""Developer tooling stays usable: lint and types clean, pre-commit in step with the lock file, make help complete."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import yaml

from support.env import ROOT


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", *args], cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint_and_format_are_clean() -> None:
    # the rule set includes Airflow's AIR rules and C901 (see pyproject.toml)
    selected = re.search(r"select = \[(.*)\]", (ROOT / "pyproject.toml").read_text())[1]
    assert '"AIR"' in selected and '"C901"' in selected
    lint = _run("ruff", "check", ".")
    assert lint.returncode == 0, lint.stdout[-3000:]
    fmt = _run("ruff", "format", "--check", ".")
    assert fmt.returncode == 0, fmt.stdout[-3000:]


def test_mypy_is_clean_on_the_orchestration_and_job_packages() -> None:
    files = re.search(r"files = \[(.*)\]", (ROOT / "pyproject.toml").read_text())[1]
    assert '"plugins/lakehouse_airflow"' in files and '"spark_jobs"' in files
    result = _run("mypy")
    assert result.returncode == 0, result.stdout[-3000:]


def test_pre_commit_hooks_use_the_locked_ruff_and_scan_for_secrets() -> None:
    config = yaml.safe_load((ROOT / ".pre-commit-config.yaml").read_text())
    hooks = {hook["id"]: repo for repo in config["repos"] for hook in repo["hooks"]}
    assert {"ruff", "ruff-format", "check-yaml", "detect-secrets"} <= set(hooks)
    locked = re.search(r"^ruff==(\S+)$", (ROOT / "requirements.txt").read_text(), re.M)[1]
    assert hooks["ruff"]["rev"] == f"v{locked}"


def test_make_help_lists_every_target() -> None:
    makefile = (ROOT / "Makefile").read_text()
    phony = set(re.search(r"^\.PHONY: (.*)$", makefile, re.M)[1].split())
    described = set(re.findall(r"^([a-z0-9-]+):.*## ", makefile, re.M))
    assert phony == described, f"targets without a ## description: {phony - described}"
    out = subprocess.run(["make", "-s", "help"], cwd=ROOT, capture_output=True, text=True, check=True).stdout
    for target in phony:
        assert f"make {target} " in out


def test_hadoop_aws_is_the_release_of_the_hadoop_pyspark_ships() -> None:
    """S3A only works with the hadoop-aws of the exact Hadoop on Spark's classpath."""
    import pyspark

    script = (ROOT / "scripts" / "spark_packages.sh").read_text()
    (pinned,) = re.findall(r"org\.apache\.hadoop:hadoop-aws:([0-9.]+)", script)
    jars = Path(pyspark.__file__).parent / "jars"
    (shipped,) = [
        m.group(1) for p in jars.iterdir() if (m := re.fullmatch(r"hadoop-client-api-([0-9.]+)\.jar", p.name))
    ]
    assert pinned == shipped
