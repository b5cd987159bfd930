"""Seed generator: deterministic, exact and disjoint dirt, contract volumes."""

from __future__ import annotations

import numpy as np
import pandas as pd

from seed.dirt import DIRT_RATES
from seed.load import generate
from seed.volumes import BASE_ROWS, rows_for


def test_sf1_reproduces_seed_volumes() -> None:
    assert {t: rows_for(t, 1) for t in BASE_ROWS} == {
        "suppliers": 1_000, "products": 10_000, "warehouses": 50, "customers": 100_000, "inventory": 100_000,
        "orders": 500_000, "order_details": 2_000_000, "shipments": 400_000, "returns": 50_000,
        "stock_levels": 100_000,
    }  # fmt: skip


def test_generation_is_deterministic_and_seed_sensitive() -> None:
    a, b, c = generate(0.002, 7), generate(0.002, 7), generate(0.002, 8)
    for table in a:
        pd.testing.assert_frame_equal(a[table].frame, b[table].frame)
    assert not a["order_details"].frame.equals(c["order_details"].frame)


def test_dirt_counts_are_exact_disjoint_and_visible() -> None:
    gen = generate(0.01, 42)
    for table, rules in DIRT_RATES.items():
        frame = gen[table].frame
        seen: set[int] = set()
        for rule, rate in rules:
            pks = set(gen[table].dirty[rule].tolist())
            assert len(pks) == round(rate * len(frame)), (table, rule)
            assert not pks & seen, f"{table}.{rule} overlaps another rule"
            seen |= pks
    customers = gen["customers"].frame.set_index("customer_id")
    dup = gen["customers"].dirty["duplicate_email.email"]
    normalised = customers["email"].str.strip().str.lower()
    assert all((normalised == normalised[pk]).sum() == 2 for pk in dup)
    assert customers.loc[gen["customers"].dirty["null_required.email"], "email"].isna().all()
    details = gen["order_details"].frame.set_index("order_detail_id")
    assert (details.loc[gen["order_details"].dirty["negative.quantity"], "quantity"] < 0).all()
    orphans = details.loc[gen["order_details"].dirty["orphan_fk.product_id"], "product_id"]
    assert (orphans > len(gen["products"].frame)).all()
    # outside the recorded rows the data is clean
    clean = details.drop(index=np.concatenate(list(gen["order_details"].dirty.values())))
    assert (clean["quantity"] > 0).all() and (clean["product_id"] <= len(gen["products"].frame)).all()


def test_order_total_is_sum_of_lines_before_dirt() -> None:
    """Totals come from the lines as generated; only lines later re-pointed to orphan orders can
    make an order disagree, so at most that many orders differ."""
    gen = generate(0.002, 42)
    orders = gen["orders"].frame.set_index("order_id")
    lines = gen["order_details"].frame
    kept = lines[lines["order_id"] <= len(orders)]
    amount = kept["quantity"].abs() * kept["unit_price"] * (1 - kept["discount"])
    expected = amount.groupby(kept["order_id"]).sum().reindex(orders.index, fill_value=0).round(2)
    present = orders["total_amount"].notna()
    differs = (orders.loc[present, "total_amount"] - expected[present]).abs() > 0.05
    assert differs.sum() <= len(gen["order_details"].dirty["orphan_fk.order_id"])
    assert present.sum() > 0.99 * len(orders)
