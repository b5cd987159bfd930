"""Documented dirt, injected at fixed rates on disjoint rows so every rule's count is exact.

Each table gets one seeded permutation of its row positions; rules take consecutive slices of
it, so a dirty row carries exactly one rule and reruns pick exactly the same rows.

| table         | rule                          | rate  | what the row looks like                                  |
|---------------|-------------------------------|-------|----------------------------------------------------------|
| suppliers     | whitespace.supplier_name      | 2%    | name padded with leading/trailing blanks                 |
| suppliers     | invalid_email.email           | 1%    | e-mail without an ``@``                                   |
| products      | null_required.product_name    | 0.5%  | product_name NULL                                        |
| products      | whitespace.product_name       | 2%    | name padded with blanks                                  |
| products      | negative.unit_price           | 0.3%  | unit_price < 0                                           |
| customers     | null_required.email           | 1%    | email NULL                                               |
| customers     | duplicate_email.email         | 1%    | another customer's email in other case, padded           |
| customers     | whitespace.customer_name      | 2%    | name padded with blanks                                  |
| inventory     | negative.quantity_available   | 0.5%  | quantity_available < 0                                   |
| inventory     | orphan_fk.product_id          | 0.2%  | product_id with no product                               |
| orders        | orphan_fk.customer_id         | 0.2%  | customer_id with no customer                             |
| orders        | null_required.total_amount    | 0.3%  | total_amount NULL                                        |
| order_details | negative.quantity             | 0.5%  | quantity < 0                                             |
| order_details | orphan_fk.product_id          | 0.2%  | product_id with no product                               |
| order_details | orphan_fk.order_id            | 0.1%  | order_id with no order                                   |
| shipments     | implausible_date.delivery_date| 0.3%  | delivery_date before shipment_date                       |
| shipments     | orphan_fk.order_id            | 0.1%  | order_id with no order                                   |
| returns       | negative.quantity             | 0.3%  | quantity < 0                                             |
| returns       | orphan_fk.order_id            | 0.2%  | order_id with no order                                   |
| stock_levels  | negative.reorder_threshold    | 0.3%  | reorder_threshold < 0                                    |
"""

from __future__ import annotations

import numpy as np

DIRT_RATES: dict[str, tuple[tuple[str, float], ...]] = {
    "suppliers": (("whitespace.supplier_name", 0.02), ("invalid_email.email", 0.01)),
    "products": (
        ("null_required.product_name", 0.005),
        ("whitespace.product_name", 0.02),
        ("negative.unit_price", 0.003),
    ),
    "warehouses": (),
    "customers": (
        ("null_required.email", 0.01),
        ("duplicate_email.email", 0.01),
        ("whitespace.customer_name", 0.02),
    ),
    "inventory": (("negative.quantity_available", 0.005), ("orphan_fk.product_id", 0.002)),
    "orders": (("orphan_fk.customer_id", 0.002), ("null_required.total_amount", 0.003)),
    "order_details": (
        ("negative.quantity", 0.005),
        ("orphan_fk.product_id", 0.002),
        ("orphan_fk.order_id", 0.001),
    ),
    "shipments": (("implausible_date.delivery_date", 0.003), ("orphan_fk.order_id", 0.001)),
    "returns": (("negative.quantity", 0.003), ("orphan_fk.order_id", 0.002)),
    "stock_levels": (("negative.reorder_threshold", 0.003),),
}


def pick_dirty_rows(table: str, n_rows: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Disjoint row positions per rule for ``table`` (exactly ``round(rate * n_rows)`` each)."""
    order = rng.permutation(n_rows)
    picked: dict[str, np.ndarray] = {}
    start = 0
    for rule, rate in DIRT_RATES[table]:
        count = round(rate * n_rows)
        picked[rule] = np.sort(order[start : start + count])
        start += count
    return picked
