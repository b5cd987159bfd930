"""Row volumes per table: SF=1 reproduces the seed volumes of the production source."""

from __future__ import annotations

BASE_ROWS: dict[str, int] = {
    "suppliers": 1_000,
    "products": 10_000,
    "warehouses": 50,
    "customers": 100_000,
    "inventory": 100_000,
    "orders": 500_000,
    "order_details": 2_000_000,
    "shipments": 400_000,
    "returns": 50_000,
    "stock_levels": 100_000,
}

# Small scale factors still need enough parents for realistic joins and dirt.
MIN_ROWS: dict[str, int] = {"suppliers": 10, "warehouses": 5, "products": 50, "customers": 100}

# Load order respects the foreign keys (parents first).
LOAD_ORDER: tuple[str, ...] = (
    "suppliers",
    "products",
    "warehouses",
    "customers",
    "inventory",
    "orders",
    "order_details",
    "shipments",
    "returns",
    "stock_levels",
)


def rows_for(table: str, scale_factor: float) -> int:
    """Number of rows of ``table`` at ``scale_factor`` (at least 1, at least MIN_ROWS)."""
    if scale_factor <= 0:
        raise ValueError(f"scale factor must be > 0, got {scale_factor}")
    return max(MIN_ROWS.get(table, 1), round(BASE_ROWS[table] * scale_factor))
