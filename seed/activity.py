"""A "day of activity" at the source: inserts, updates and deletes stamped inside one window.

Deterministic for (seed, window): the same call against the same database state makes the same
changes. Applying a window twice is refused as a no-op (recorded in ``lakehouse_seed.activity``),
so a demo or test can be re-run safely. Every change moves ``updated_at`` into the window, which is
what the incremental loads pick up; deletes are what delete detection must find.

What one window does (``rate`` = fraction of each table, default 1%):
- orders: ``rate`` updated (status moves on), ``rate/2`` new orders with 1-4 lines each,
  ``rate/10`` deleted together with their lines, shipments and returns (the source's foreign keys);
- order_details, inventory, stock_levels, shipments: ``rate`` updated;
- returns: ``rate`` new returns of existing order lines.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
from dataclasses import dataclass, field

import numpy as np
import psycopg

from seed.load import MANIFEST_SCHEMA, ensure_activity_log
from seed.tables import ORDER_STATUS, REASONS

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ActivityRequest:
    dsn: str
    schema: str
    start: dt.datetime  # naive, source-local
    end: dt.datetime
    seed: int = 42
    rate: float = 0.01


@dataclass
class ActivitySummary:
    inserted: dict[str, int] = field(default_factory=dict)
    updated: dict[str, int] = field(default_factory=dict)
    deleted: dict[str, list[int]] = field(default_factory=dict)  # table -> deleted keys
    applied: bool = True  # False when this window had already been applied

    def to_json(self) -> str:
        return json.dumps({"inserted": self.inserted, "updated": self.updated, "deleted": self.deleted})

    @classmethod
    def from_json(cls, text: str | dict) -> ActivitySummary:
        raw = json.loads(text) if isinstance(text, str) else text
        return cls(raw["inserted"], raw["updated"], {k: list(v) for k, v in raw["deleted"].items()}, applied=False)


class _Day:
    """Random choices and timestamps for one window."""

    def __init__(self, req: ActivityRequest, cur: psycopg.Cursor) -> None:
        self.req, self.cur = req, cur
        self.rng = np.random.default_rng([req.seed, req.start.toordinal(), req.start.hour, req.start.minute])

    def stamps(self, n: int) -> list[dt.datetime]:
        span = (self.req.end - self.req.start).total_seconds()
        offsets = np.sort(self.rng.uniform(0, span, n))
        return [self.req.start + dt.timedelta(seconds=float(round(o, 3))) for o in offsets]

    def count(self, fraction: float, n: int) -> int:
        return min(n, math.ceil(fraction * n)) if n else 0

    def keys(self, table: str, key: str) -> np.ndarray:
        self.cur.execute(f"SELECT {key} FROM {self.req.schema}.{table} ORDER BY {key}")
        return np.array([r[0] for r in self.cur.fetchall()], dtype=np.int64)

    def pick(self, ids: np.ndarray, k: int) -> list[int]:
        return sorted(int(i) for i in self.rng.choice(ids, size=min(k, len(ids)), replace=False)) if k else []

    def update(self, table: str, key: str, ids: list[int], sets: dict[str, tuple[str, list]]) -> int:
        """``UPDATE table SET col = v.col, updated_at = v.ts`` for ``ids`` (one statement)."""
        stamps = self.stamps(len(ids))
        cols = ", ".join(f"{c} = v.{c}" for c in sets)
        arrays = ", ".join(f"%s::{typ}[]" for typ, _ in sets.values())
        names = ", ".join(sets)
        self.cur.execute(
            f"UPDATE {self.req.schema}.{table} AS t SET {cols}, updated_at = v.ts "
            f"FROM unnest(%s::bigint[], {arrays}, %s::timestamp[]) AS v(id, {names}, ts) WHERE t.{key} = v.id",
            [ids, *(values for _, values in sets.values()), stamps],
        )
        return self.cur.rowcount


def _row(cur: psycopg.Cursor) -> tuple:
    """The single row an aggregate query returns."""
    row = cur.fetchone()
    if row is None:
        raise RuntimeError("aggregate query returned no row")
    return row


def _applied(cur: psycopg.Cursor, req: ActivityRequest) -> ActivitySummary | None:
    ensure_activity_log(cur)
    cur.execute(
        f"SELECT summary FROM {MANIFEST_SCHEMA}.activity WHERE schema_name = %s AND window_start = %s",
        (req.schema, req.start),
    )
    row = cur.fetchone()
    return ActivitySummary.from_json(row[0]) if row else None


def _new_orders(day: _Day, out: ActivitySummary, orders: np.ndarray) -> None:
    s, rate = day.req.schema, day.req.rate
    n_new = day.count(rate / 2, len(orders))
    if not n_new:
        return
    cur = day.cur
    cur.execute(f"SELECT max(customer_id) FROM {s}.customers")
    n_customers = int(_row(cur)[0])
    cur.execute(f"SELECT product_id, abs(unit_price) FROM {s}.products WHERE unit_price IS NOT NULL ORDER BY 1")
    products = cur.fetchall()
    cur.execute(f"SELECT coalesce(max(order_id), 0), (SELECT coalesce(max(order_detail_id), 0) FROM {s}.order_details) "
                f"FROM {s}.orders")  # fmt: skip
    next_order, next_line = (int(v) + 1 for v in _row(cur))
    stamps = day.stamps(n_new)
    order_rows, line_rows = [], []
    for i in range(n_new):
        order_id, total = next_order + i, 0.0
        for _ in range(int(day.rng.integers(1, 5))):
            product_id, price = products[int(day.rng.integers(0, len(products)))]
            qty, discount = int(day.rng.integers(1, 6)), float(day.rng.choice([0.0, 0.0, 0.05, 0.1]))
            line_rows.append((next_line, order_id, product_id, qty, price, discount, stamps[i]))
            total += qty * float(price) * (1 - discount)
            next_line += 1
        customer = int(day.rng.integers(1, n_customers + 1))
        order_rows.append((order_id, customer, stamps[i].date(), "PENDING", round(total, 2), stamps[i]))
    cur.executemany(
        f"INSERT INTO {s}.orders (order_id, customer_id, order_date, status, total_amount, updated_at) "
        "VALUES (%s, %s, %s, %s, %s, %s)",
        order_rows,
    )
    cur.executemany(
        f"INSERT INTO {s}.order_details (order_detail_id, order_id, product_id, quantity, unit_price, discount, "
        "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s)",
        line_rows,
    )
    out.inserted.update(orders=len(order_rows), order_details=len(line_rows))


def _new_returns(day: _Day, out: ActivitySummary) -> None:
    s, cur = day.req.schema, day.cur
    cur.execute(f"SELECT count(*), coalesce(max(return_id), 0) FROM {s}.returns")
    n_returns, last = (int(v) for v in _row(cur))
    lines = day.keys("order_details", "order_detail_id")
    picked = day.pick(lines, day.count(day.req.rate, n_returns))
    if not picked:
        return
    cur.execute(
        f"SELECT d.order_id, d.product_id, d.unit_price FROM {s}.order_details d "
        f"JOIN {s}.orders o ON o.order_id = d.order_id "
        f"JOIN {s}.products p ON p.product_id = d.product_id "
        "WHERE d.order_detail_id = ANY(%s) AND d.unit_price >= 0 ORDER BY d.order_detail_id",
        (picked,),
    )
    sources = cur.fetchall()
    stamps = day.stamps(len(sources))
    rows = [
        (last + 1 + i, order_id, product_id, stamps[i].date(), 1, str(day.rng.choice(REASONS)), price, stamps[i])
        for i, (order_id, product_id, price) in enumerate(sources)
    ]
    cur.executemany(
        f"INSERT INTO {s}.returns (return_id, order_id, product_id, return_date, quantity, reason, refund_amount, "
        "updated_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        rows,
    )
    out.inserted["returns"] = len(rows)


def _delete_orders(day: _Day, out: ActivitySummary, orders: np.ndarray) -> None:
    s, cur = day.req.schema, day.cur
    victims = day.pick(orders, day.count(day.req.rate / 10, len(orders)))
    for table, key in (("returns", "return_id"), ("shipments", "shipment_id"), ("order_details", "order_detail_id")):
        cur.execute(f"DELETE FROM {s}.{table} WHERE order_id = ANY(%s) RETURNING {key}", (victims,))
        out.deleted[table] = sorted(int(r[0]) for r in cur.fetchall())
    cur.execute(f"DELETE FROM {s}.orders WHERE order_id = ANY(%s) RETURNING order_id", (victims,))
    out.deleted["orders"] = sorted(int(r[0]) for r in cur.fetchall())


def _updates(day: _Day, out: ActivitySummary, orders: np.ndarray) -> None:
    rate, rng = day.req.rate, day.rng
    ids = day.pick(orders, day.count(rate, len(orders)))
    out.updated["orders"] = day.update(
        "orders", "order_id", ids, {"status": ("text", [str(v) for v in rng.choice(ORDER_STATUS[:4], len(ids))])}
    )
    plans = {
        "order_details": ("order_detail_id", "quantity", "int", (1, 11)),
        "inventory": ("inventory_id", "quantity_available", "int", (0, 5000)),
        "stock_levels": ("stock_level_id", "max_stock", "int", (500, 10000)),
        "shipments": ("shipment_id", "status", "text", None),
    }
    for table, (key, col, typ, bounds) in plans.items():
        keys = day.keys(table, key)
        picked = day.pick(keys, day.count(rate, len(keys)))
        if bounds:
            values: list = [int(v) for v in rng.integers(*bounds, len(picked))]
        else:
            values = ["DELIVERED"] * len(picked)
        out.updated[table] = day.update(table, key, picked, {col: (typ, values)})


def apply_activity(req: ActivityRequest) -> ActivitySummary:
    """Apply one window of activity in one transaction (all or nothing); a no-op if already applied."""
    if req.end <= req.start:
        raise ValueError(f"activity window is empty: {req.start} .. {req.end}")
    with psycopg.connect(req.dsn, autocommit=False) as conn, conn.cursor() as cur:
        cur.execute(f"CREATE SCHEMA IF NOT EXISTS {MANIFEST_SCHEMA}")
        done = _applied(cur, req)
        if done is not None:
            log.info("activity for %s .. %s already applied to %s", req.start, req.end, req.schema)
            return done
        day, out = _Day(req, cur), ActivitySummary()
        orders = day.keys("orders", "order_id")
        _updates(day, out, orders)
        _new_orders(day, out, orders)
        _new_returns(day, out)
        _delete_orders(day, out, orders)  # orders that existed before this window
        cur.execute(
            f"INSERT INTO {MANIFEST_SCHEMA}.activity (schema_name, window_start, window_end, seed, summary) "
            "VALUES (%s, %s, %s, %s, %s)",
            (req.schema, req.start, req.end, req.seed, out.to_json()),
        )
        conn.commit()
    return out
