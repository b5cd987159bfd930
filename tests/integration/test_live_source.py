"""A full load of a source taking writes: every read of one extract sees one snapshot.

A writer commits small transactions (update an order, insert one, delete an earlier insert) for
the whole extract. The load succeeds (the audit reconciles the source count with bronze) and
bronze equals the source as of one moment: the initial rows plus exactly the first ``m`` writer
transactions, for one ``m`` (a read that saw another moment would match no prefix)."""

from __future__ import annotations

import datetime as dt
import threading
import time
from decimal import Decimal
from pathlib import Path

import psycopg
import pytest

from spark_jobs.jobs import dispatch
from spark_jobs.storage.tables import audit_table, bronze_table
from support.env import IT_SF, sh
from support.specs import job_argv, table_specs

SCHEMA = "it_live"
COLUMNS = ("order_id", "customer_id", "order_date", "status", "total_amount", "updated_at")
STAMP = dt.datetime(2026, 11, 20, 12, 0, 0)


class Writer(threading.Thread):
    """Transaction i: order ``updates[i]`` gets status ``W<i>`` and +1.00, order ``first + i`` is
    inserted and, every other one, order ``first + i - 3`` (an earlier insert) deleted. ``done``
    counts commits."""

    def __init__(self, dsn: str, updates: list[int], first: int, customer: int) -> None:
        super().__init__(daemon=True)
        self.dsn, self.updates, self.first, self.customer = dsn, updates, first, customer
        self.done = 0
        self.stop = threading.Event()
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self._write()
        except BaseException as exc:  # reported by the test, which would otherwise wait forever
            self.error = exc

    def _write(self) -> None:
        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self.stop.is_set() and self.done < len(self.updates):
                i = self.done
                with conn.transaction():
                    conn.execute(
                        f"UPDATE {SCHEMA}.orders SET status = %s, total_amount = total_amount + 1 WHERE order_id = %s",
                        (f"W{i}", self.updates[i]),
                    )
                    conn.execute(
                        f"INSERT INTO {SCHEMA}.orders VALUES (%s, %s, %s, 'NEW', 1.00, %s)",
                        (self.first + i, self.customer, STAMP.date(), STAMP),
                    )
                    if i >= 3 and i % 2:  # the row count moves too (+1 every other transaction)
                        conn.execute(f"DELETE FROM {SCHEMA}.orders WHERE order_id = %s", (self.first + i - 3,))
                self.done += 1

    def apply(self, rows: dict[int, tuple], i: int) -> None:
        """Transaction ``i`` applied to ``rows`` (order_id -> row), as the source applied it."""
        k = self.updates[i]
        if k in rows:
            old = rows[k]
            amount = None if old[4] is None else old[4] + Decimal("1.00")  # NULL + 1 is NULL, as in SQL
            rows[k] = (*old[:3], f"W{i}", amount, old[5])
        rows[self.first + i] = (self.first + i, self.customer, STAMP.date(), "NEW", Decimal("1.00"), STAMP)
        if i >= 3 and i % 2:
            rows.pop(self.first + i - 3, None)


@pytest.fixture(scope="module")
def source(stack: dict[str, str]) -> str:
    sh(["python", "-m", "seed", "--schema", SCHEMA, "--sf", str(IT_SF), "--force"], env=stack)
    return stack["AIRFLOW_CONN_INVENTORY_SOURCE"]


def test_a_full_load_under_concurrent_writes_sees_one_snapshot(source, spark, tmp_path: Path) -> None:
    with psycopg.connect(source) as conn:
        initial = {r[0]: tuple(r) for r in conn.execute(f"SELECT {', '.join(COLUMNS)} FROM {SCHEMA}.orders")}
        customer = conn.execute(f"SELECT min(customer_id) FROM {SCHEMA}.customers").fetchone()[0]
        # new order ids no row refers to (the seed's dirt includes orphan references to missing orders)
        referenced = conn.execute(
            " UNION ALL ".join(f"SELECT max(order_id) FROM {SCHEMA}.{t}" for t in ("orders", "order_details",
                                                                                  "shipments", "returns"))
        ).fetchall()  # fmt: skip
    ids = sorted(initial)
    first = max(r[0] or 0 for r in referenced) + 1_000
    writer = Writer(source, [ids[(7 * i) % len(ids)] for i in range(100_000)], first, customer)
    specs = table_specs("orders", str(tmp_path), source=f"{SCHEMA}.orders", load_mode="full")
    writer.start()
    try:
        while writer.done < 5:
            assert writer.is_alive(), f"the writer stopped: {writer.error!r}"
            time.sleep(0.01)
        before = writer.done
        assert dispatch(job_argv(specs["extract"], "r1")) == 0
        during = writer.done - before
    finally:
        writer.stop.set()
        writer.join()
    assert writer.error is None, writer.error
    assert during >= 5, "the writer did not commit during the extract: the test proves nothing"
    assert dispatch(job_argv(specs["write_bronze"], "r1")) == 0
    states = "validate_connection=success,extract=success,write_bronze=success"
    assert dispatch(job_argv(specs["audit"], "r1", upstream_states=states)) == 0  # counts reconcile

    bronze = {
        r["order_id"]: tuple(r[c] for c in COLUMNS)
        for r in bronze_table(str(tmp_path), "inventory_bronze", "orders").read(spark).collect()
    }
    rows, matches = dict(initial), []
    for m in range(writer.done + 1):
        if rows == bronze:
            matches.append(m)
        if m < writer.done:
            writer.apply(rows, m)
    assert len(matches) == 1 and 0 < matches[0] < writer.done, matches
    audit = audit_table(str(tmp_path), "inventory_bronze").read(spark).collect()
    assert [(r["status"], r["row_count"], r["source_row_count"]) for r in audit] == [
        ("SUCCESS", len(bronze), len(bronze))
    ]
