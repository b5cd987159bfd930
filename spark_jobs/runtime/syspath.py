"""Import the installed pyspark, not the copy spark-submit puts first on ``PYTHONPATH``.

``spark-submit`` runs a Python job with ``$SPARK_HOME/python/lib/pyspark.zip`` and the py4j zip
ahead of everything else on ``sys.path``. Python cannot cache bytecode for modules imported from a
zip, so every task recompiled pyspark's Connect client: ~0.9 s of imports instead of ~0.35 s. When
those zips are the ones shipped inside the very pyspark installation that is also importable from
``sys.path`` (a pip-installed Spark, as here), they are the same code: move them to the end.
Anything else (a separate Spark distribution, Databricks) is left exactly as it is.
"""

from __future__ import annotations

import os
import sys
from importlib.machinery import PathFinder


def _is_spark_zip(entry: str) -> bool:
    name = os.path.basename(entry)
    return name == "pyspark.zip" or (name.startswith("py4j-") and name.endswith("-src.zip"))


def prefer_installed_pyspark(path: list[str] | None = None) -> bool:
    """Reorder ``path`` (default ``sys.path``) in place; True when the zips were moved."""
    path = sys.path if path is None else path
    zips = [p for p in path if _is_spark_zip(p)]
    if not zips:
        return False
    rest = [p for p in path if p not in zips]
    spec = PathFinder.find_spec("pyspark", rest)
    if spec is None or not spec.submodule_search_locations:
        return False
    installed = os.path.realpath(next(iter(spec.submodule_search_locations)))
    if not all(os.path.realpath(z).startswith(installed + os.sep) for z in zips):
        return False  # zips of another Spark: keep the versions spark-submit chose
    path[:] = rest + zips
    return True
