"""spark_jobs.runtime.syspath: spark-submit's pyspark zips go last only when they belong to the
pyspark installation that is importable anyway."""

from __future__ import annotations

from pathlib import Path

from spark_jobs.runtime.syspath import prefer_installed_pyspark


def _install(site: Path) -> tuple[str, str]:
    """A pip-style pyspark under ``site`` with the zips it ships; their paths."""
    lib = site / "pyspark" / "python" / "lib"
    lib.mkdir(parents=True)
    (site / "pyspark" / "__init__.py").write_text("")
    for name in ("pyspark.zip", "py4j-0.10.9.9-src.zip"):
        (lib / name).write_bytes(b"")
    return str(lib / "pyspark.zip"), str(lib / "py4j-0.10.9.9-src.zip")


def test_zips_of_the_installed_pyspark_move_behind_it(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    zip_, py4j = _install(site)
    path = [zip_, py4j, "/project", str(site)]
    assert prefer_installed_pyspark(path) is True
    assert path == ["/project", str(site), zip_, py4j]


def test_zips_of_another_spark_stay_first(tmp_path: Path) -> None:
    site = tmp_path / "site-packages"
    _install(site)
    other, other_py4j = _install(tmp_path / "opt-spark")
    path = [other, other_py4j, str(site)]
    assert prefer_installed_pyspark(path) is False
    assert path == [other, other_py4j, str(site)]


def test_without_an_installed_pyspark_the_zips_are_kept(tmp_path: Path) -> None:
    zip_, py4j = _install(tmp_path / "spark")
    path = [zip_, py4j, str(tmp_path / "empty")]
    assert prefer_installed_pyspark(path) is False
    assert path[:2] == [zip_, py4j]
    assert prefer_installed_pyspark(["/project"]) is False  # not under spark-submit: nothing to do
