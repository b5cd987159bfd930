"""Fact tables: orders with their lines, shipments, returns and stock levels."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seed.dirt import pick_dirty_rows
from seed.tables import (
    CARRIERS,
    DAYS,
    EPOCH,
    ORDER_STATUS,
    REASONS,
    Generated,
    _finish,
    _ids,
    _orphan,
    _rng,
    _ts,
)


def orders_and_details(
    n_orders: int, n_details: int, n_customers: int, products: pd.DataFrame, seed: int
) -> tuple[Generated, Generated]:
    """Orders and their lines; an order's total is the sum of its clean lines."""
    rng = _rng(seed, "orders")
    order_ids = _ids(n_orders)
    order_day = rng.integers(0, DAYS, n_orders)
    orders = pd.DataFrame(
        {
            "order_id": order_ids,
            "customer_id": rng.integers(1, n_customers + 1, n_orders),
            "order_date": (EPOCH.astype("datetime64[D]") + order_day.astype("timedelta64[D]")),
            "status": rng.choice(ORDER_STATUS, n_orders, p=[0.05, 0.1, 0.2, 0.6, 0.05]),
            "total_amount": np.zeros(n_orders),
            "updated_at": _ts(rng, n_orders, order_day, span_days=2),
        }
    )

    drng = _rng(seed, "order_details")
    line_order = np.sort(drng.integers(1, n_orders + 1, n_details))
    line_product = drng.integers(1, len(products) + 1, n_details)
    prices = np.abs(products["unit_price"].to_numpy())[line_product - 1]
    details = pd.DataFrame(
        {
            "order_detail_id": _ids(n_details),
            "order_id": line_order,
            "product_id": line_product,
            "quantity": drng.integers(1, 11, n_details),
            "unit_price": prices,
            "discount": drng.choice(np.array([0.0, 0.0, 0.0, 0.05, 0.10, 0.15]), n_details),
            "updated_at": orders["updated_at"].to_numpy()[line_order - 1],
        }
    )
    line_total = details["quantity"] * details["unit_price"] * (1 - details["discount"])
    orders["total_amount"] = np.round(np.bincount(line_order - 1, weights=line_total, minlength=n_orders), 2)

    odirty = pick_dirty_rows("orders", n_orders, rng)
    _orphan(orders, "customer_id", odirty["orphan_fk.customer_id"], n_customers)
    orders.loc[odirty["null_required.total_amount"], "total_amount"] = np.nan

    ddirty = pick_dirty_rows("order_details", n_details, drng)
    details.loc[ddirty["negative.quantity"], "quantity"] *= -1
    _orphan(details, "product_id", ddirty["orphan_fk.product_id"], len(products))
    _orphan(details, "order_id", ddirty["orphan_fk.order_id"], n_orders)
    return _finish(orders, "order_id", odirty), _finish(details, "order_detail_id", ddirty)


def shipments(n: int, orders: pd.DataFrame, n_warehouses: int, seed: int) -> Generated:
    rng = _rng(seed, "shipments")
    n = min(n, len(orders))
    order_pos = np.sort(rng.choice(len(orders), n, replace=False))
    order_date = orders["order_date"].to_numpy()[order_pos].astype("datetime64[D]")
    ship_date = order_date + rng.integers(0, 4, n).astype("timedelta64[D]")
    delivered = rng.random(n) < 0.9
    delivery = ship_date + rng.integers(1, 8, n).astype("timedelta64[D]")
    frame = pd.DataFrame(
        {
            "shipment_id": _ids(n),
            "order_id": orders["order_id"].to_numpy()[order_pos],
            "warehouse_id": rng.integers(1, n_warehouses + 1, n),
            "shipment_date": ship_date,
            "delivery_date": pd.Series(delivery).where(delivered),
            "carrier": rng.choice(CARRIERS, n),
            "status": np.where(delivered, "DELIVERED", "IN_TRANSIT"),
            "updated_at": orders["updated_at"].to_numpy()[order_pos] + np.timedelta64(3, "D"),
        }
    )
    dirty = pick_dirty_rows("shipments", n, rng)
    bad = dirty["implausible_date.delivery_date"]
    frame.loc[bad, "delivery_date"] = pd.Series(ship_date[bad] - np.timedelta64(5, "D"), index=bad)
    frame.loc[bad, "status"] = "DELIVERED"
    _orphan(frame, "order_id", dirty["orphan_fk.order_id"], len(orders))
    return _finish(frame, "shipment_id", dirty)


def returns(n: int, orders: pd.DataFrame, details: pd.DataFrame, seed: int) -> Generated:
    rng = _rng(seed, "returns")
    clean_lines = np.flatnonzero((details["quantity"].to_numpy() > 0) & (details["order_id"].to_numpy() <= len(orders)))
    n = min(n, len(clean_lines))
    line = np.sort(rng.choice(clean_lines, n, replace=False))
    order_id = details["order_id"].to_numpy()[line]
    order_date = orders["order_date"].to_numpy()[order_id - 1].astype("datetime64[D]")
    quantity = rng.integers(1, details["quantity"].to_numpy()[line] + 1)
    frame = pd.DataFrame(
        {
            "return_id": _ids(n),
            "order_id": order_id,
            "product_id": details["product_id"].to_numpy()[line],
            "return_date": order_date + rng.integers(3, 31, n).astype("timedelta64[D]"),
            "quantity": quantity,
            "reason": rng.choice(REASONS, n),
            "refund_amount": np.round(quantity * details["unit_price"].to_numpy()[line], 2),
            "updated_at": orders["updated_at"].to_numpy()[order_id - 1] + np.timedelta64(10, "D"),
        }
    )
    dirty = pick_dirty_rows("returns", n, rng)
    frame.loc[dirty["negative.quantity"], "quantity"] *= -1
    _orphan(frame, "order_id", dirty["orphan_fk.order_id"], len(orders))
    return _finish(frame, "return_id", dirty)


def stock_levels(n: int, n_products: int, n_warehouses: int, seed: int) -> Generated:
    rng = _rng(seed, "stock_levels")
    recorded = _ts(rng, n)
    frame = pd.DataFrame(
        {
            "stock_level_id": _ids(n),
            "product_id": rng.integers(1, n_products + 1, n),
            "warehouse_id": rng.integers(1, n_warehouses + 1, n),
            "reorder_threshold": rng.integers(10, 201, n),
            "max_stock": rng.integers(500, 5_001, n),
            "recorded_at": recorded,
            "updated_at": recorded,
        }
    )
    dirty = pick_dirty_rows("stock_levels", n, rng)
    frame.loc[dirty["negative.reorder_threshold"], "reorder_threshold"] *= -1
    return _finish(frame, "stock_level_id", dirty)
