"""A second Delta reader: DuckDB's ``delta`` extension (delta-kernel-rs), as BI tools and
DuckDB users read the lakehouse. The extension binary comes from PyPI (``duckdb-ext-delta``,
built for the pinned DuckDB), so no download from DuckDB's extension server is needed."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import duckdb


def extension(name: str) -> Path:
    """A DuckDB extension binary from its ``duckdb-ext-<name>`` wheel, for the pinned DuckDB."""
    spec = importlib.util.find_spec("duckdb_ext")
    assert spec is not None and spec.submodule_search_locations, f"duckdb-ext-{name} is not installed"
    version = duckdb.__version__
    found = sorted(Path(spec.submodule_search_locations[0]).glob(f"extensions/v{version}/*/{name}.duckdb_extension"))
    assert found, f"no {name} extension for DuckDB {version} in duckdb-ext-{name}"
    return found[0]


def connect() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    con.execute(f"LOAD '{extension('delta')}'")
    return con


def delta_tables(lake: Path) -> list[Path]:
    """Every Delta table under a lakehouse root (``<root>/<schema>/<table>``)."""
    return sorted(log.parent for log in lake.glob("*/*/_delta_log"))
