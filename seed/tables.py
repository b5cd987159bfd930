"""Vectorised, seeded generation of the ten source tables (pandas frames in DDL column order)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from seed.dirt import pick_dirty_rows
from seed.volumes import LOAD_ORDER

EPOCH = np.datetime64("2025-01-01T00:00:00")
DAYS = 669  # order dates span 2025-01-01 .. 2026-10-31
FIRST = np.array(["Aarav", "Maya", "Liam", "Zara", "Noah", "Ana", "Ravi", "Emma", "Omar", "Ivy", "Chen", "Lena"])
LAST = np.array(["Sharma", "Smith", "Garcia", "Khan", "Müller", "Rossi", "Tanaka", "Silva", "Patel", "Novak"])
CITIES = np.array(["Mumbai", "Delhi", "Bengaluru", "London", "Berlin", "New York", "Singapore", "Sydney", "Toronto"])
COUNTRIES = np.array(["IN", "IN", "IN", "GB", "DE", "US", "SG", "AU", "CA"])
CATEGORIES = np.array(
    ["Electronics", "Grocery", "Apparel", "Home", "Toys", "Sports", "Beauty", "Books", "Garden", "Office"]
)
ORDER_STATUS = np.array(["PENDING", "PROCESSING", "SHIPPED", "DELIVERED", "CANCELLED"])
CARRIERS = np.array(["BlueDart", "DHL", "FedEx", "UPS", "Delhivery"])
REASONS = np.array(["DAMAGED", "WRONG_ITEM", "NOT_AS_DESCRIBED", "NO_LONGER_NEEDED", "LATE_DELIVERY"])


@dataclass
class Generated:
    """One generated table: rows in DDL order and the dirty primary keys per rule."""

    frame: pd.DataFrame
    dirty: dict[str, np.ndarray] = field(default_factory=dict)


def _rng(seed: int, table: str) -> np.random.Generator:
    return np.random.default_rng([seed, LOAD_ORDER.index(table)])


def _ids(n: int) -> np.ndarray:
    return np.arange(1, n + 1, dtype=np.int64)


def _ts(rng: np.random.Generator, n: int, start_day: np.ndarray | int = 0, span_days: int = DAYS) -> np.ndarray:
    seconds = rng.integers(0, span_days * 86_400, n)
    return EPOCH + (np.asarray(start_day) * 86_400 + seconds).astype("timedelta64[s]")


def _names(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    return rng.choice(FIRST, n), rng.choice(LAST, n)


def _pad(frame: pd.DataFrame, column: str, rows: np.ndarray) -> None:
    frame.loc[rows, column] = "  " + frame.loc[rows, column] + " "


def _finish(frame: pd.DataFrame, pk: str, positions: dict[str, np.ndarray]) -> Generated:
    ids = frame[pk].to_numpy()
    return Generated(frame, {rule: ids[rows] for rule, rows in positions.items()})


def suppliers(n: int, seed: int) -> Generated:
    rng = _rng(seed, "suppliers")
    ids = _ids(n)
    frame = pd.DataFrame(
        {
            "supplier_id": ids,
            "supplier_name": pd.Series([f"Supplier {i:05d} Ltd" for i in ids]),
            "contact_number": pd.Series([f"+91-98{v:08d}" for v in rng.integers(0, 10**8, n)]),
            "email": pd.Series([f"sales{i}@supplier{i % 97}.example.com" for i in ids]),
            "country": rng.choice(COUNTRIES, n),
            "updated_at": _ts(rng, n),
        }
    )
    dirty = pick_dirty_rows("suppliers", n, rng)
    _pad(frame, "supplier_name", dirty["whitespace.supplier_name"])
    bad = dirty["invalid_email.email"]
    frame.loc[bad, "email"] = frame.loc[bad, "email"].str.replace("@", ".at.", regex=False)
    return _finish(frame, "supplier_id", dirty)


def products(n: int, n_suppliers: int, seed: int) -> Generated:
    rng = _rng(seed, "products")
    ids = _ids(n)
    category = rng.choice(CATEGORIES, n)
    frame = pd.DataFrame(
        {
            "product_id": ids,
            "product_name": pd.Series([f"{c} item {i}" for c, i in zip(category, ids, strict=True)], dtype=object),
            "category": category,
            "sku": pd.Series([f"SKU-{i:07d}" for i in ids]),
            "unit_price": np.round(rng.uniform(1, 500, n), 2),
            "supplier_id": rng.integers(1, n_suppliers + 1, n),
            "reorder_level": rng.integers(10, 101, n),
            "updated_at": _ts(rng, n),
        }
    )
    dirty = pick_dirty_rows("products", n, rng)
    frame.loc[dirty["null_required.product_name"], "product_name"] = None
    _pad(frame, "product_name", dirty["whitespace.product_name"])
    neg = dirty["negative.unit_price"]
    frame.loc[neg, "unit_price"] = -frame.loc[neg, "unit_price"]
    return _finish(frame, "product_id", dirty)


def warehouses(n: int, seed: int) -> Generated:
    rng = _rng(seed, "warehouses")
    ids = _ids(n)
    frame = pd.DataFrame(
        {
            "warehouse_id": ids,
            "warehouse_name": pd.Series([f"WH-{i:03d}" for i in ids]),
            "city": rng.choice(CITIES, n),
            "capacity": rng.integers(10_000, 200_001, n),
            "updated_at": _ts(rng, n),
        }
    )
    return _finish(frame, "warehouse_id", pick_dirty_rows("warehouses", n, rng))


def customers(n: int, seed: int) -> Generated:
    rng = _rng(seed, "customers")
    ids = _ids(n)
    first, last = _names(rng, n)
    city_idx = rng.integers(0, len(CITIES), n)
    frame = pd.DataFrame(
        {
            "customer_id": ids,
            "customer_name": pd.Series(np.char.add(np.char.add(first, " "), last).astype(object)),
            "email": pd.Series(
                [f"{f.lower()}.{la.lower()}{i}@mail.example.com" for f, la, i in zip(first, last, ids, strict=True)],
                dtype=object,
            ),
            "phone": pd.Series([f"+1-555-{v:07d}" for v in rng.integers(0, 10**7, n)]),
            "city": CITIES[city_idx],
            "country": COUNTRIES[city_idx],
            "updated_at": _ts(rng, n),
        }
    )
    dirty = pick_dirty_rows("customers", n, rng)
    frame.loc[dirty["null_required.email"], "email"] = None
    dup_rows = dirty["duplicate_email.email"]
    dirty_any = np.concatenate(list(dirty.values()))
    clean = np.setdiff1d(np.arange(n), dirty_any)
    originals = rng.choice(clean, len(dup_rows))
    frame.loc[dup_rows, "email"] = ("  " + frame.loc[originals, "email"].str.upper() + " ").to_numpy()
    _pad(frame, "customer_name", dirty["whitespace.customer_name"])
    return _finish(frame, "customer_id", dirty)


def inventory(n: int, n_products: int, n_warehouses: int, seed: int) -> Generated:
    rng = _rng(seed, "inventory")
    frame = pd.DataFrame(
        {
            "inventory_id": _ids(n),
            "product_id": rng.integers(1, n_products + 1, n),
            "warehouse_id": rng.integers(1, n_warehouses + 1, n),
            "quantity_available": rng.integers(0, 1_001, n),
            "updated_at": _ts(rng, n),
        }
    )
    dirty = pick_dirty_rows("inventory", n, rng)
    neg = dirty["negative.quantity_available"]
    frame.loc[neg, "quantity_available"] = -frame.loc[neg, "quantity_available"] - 1
    _orphan(frame, "product_id", dirty["orphan_fk.product_id"], n_products)
    return _finish(frame, "inventory_id", dirty)


def _orphan(frame: pd.DataFrame, column: str, rows: np.ndarray, n_parents: int) -> None:
    """Point ``rows`` at parent ids that do not exist (beyond the parent's id range)."""
    frame.loc[rows, column] = n_parents + 1_000_000 + np.arange(len(rows))
