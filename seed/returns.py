"""Return drops for the returns pipeline (``include/pipelines/returns.yaml``): deterministic, with
documented dirt, one day at a time.

Per day and channel, ``files`` drops of about ``500 * sf`` returns in all:

* web: JSON lines under ``<root>/returns_raw/web/<day>/returns-<day>-<k>.jsonl``
* store: CSV (header line) under ``<root>/returns_raw/store/<day>/returns-<day>-<k>.csv``

Dirt, each row independently (rates of rows): 4 % strings padded with spaces, 4 % reasons in
upper/mixed case, 3 % reason missing, 3 % quantity missing, 2 % amount negative, 2 % amount
``"n/a"`` (not a number: rescued by bronze, quarantined by silver), 1 % quantity 0, 1 % sku
missing, 1 % return_id missing; and 2 % of a day's returns sent again in the day's last file with a
corrected amount (the later file wins). The expected silver/quarantine counts of every day are
written next to the drops (``<root>/_generator/returns-<day>.json``), from the generated records.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import random
from dataclasses import dataclass
from typing import Any

from lakehouse_contract.storage import DEFAULT_STORAGE_CONN_ID
from seed.drops import DropDay

CHANNELS = {"web": "jsonl", "store": "csv"}
REASONS = ("damaged", "wrong_item", "not_as_described", "changed_mind", "late_delivery", "defective")
FIELDS = ("return_id", "order_id", "sku", "return_date", "reason", "quantity", "amount")


@dataclass(frozen=True)
class ReturnsDay(DropDay):
    files: int = 3  # drops per channel and day


def _record(rng: random.Random, channel: str, day: dt.date, i: int) -> dict[str, Any]:
    rec: dict[str, Any] = {
        "return_id": f"{channel[0].upper()}-{day:%Y%m%d}-{i:05d}",
        "order_id": rng.randint(1, 200_000),
        "sku": f"SKU-{rng.randint(1, 400):05d}",
        "return_date": (day - dt.timedelta(days=rng.randint(0, 3))).isoformat(),
        "reason": rng.choice(REASONS),
        "quantity": rng.randint(1, 5),
        "amount": round(rng.uniform(5, 500), 2),
    }
    roll = rng.random
    if roll() < 0.04:
        rec["sku"] = f"  {rec['sku']} "
    if roll() < 0.04:
        rec["reason"] = rec["reason"].upper() if roll() < 0.5 else rec["reason"].title()
    if roll() < 0.03:
        rec["reason"] = None
    if roll() < 0.03:
        rec["quantity"] = None
    elif roll() < 0.01:
        rec["quantity"] = 0
    r = roll()
    if r < 0.02:
        rec["amount"] = -rec["amount"]
    elif r < 0.04:
        rec["amount"] = "n/a"
    if roll() < 0.01:
        rec["sku"] = None
    if roll() < 0.01:
        rec["return_id"] = None
    return rec


def _quarantined(rec: dict[str, Any]) -> bool:
    """What the pipeline's silver rules say about a record (the generator's own reading of them)."""
    amount, qty = rec["amount"], rec["quantity"]
    return (
        rec["return_id"] is None
        or rec["sku"] is None
        or amount == "n/a"
        or (isinstance(amount, float) and amount < 0)
        or (qty is not None and qty <= 0)
    )


def _drops(request: ReturnsDay, channel: str) -> tuple[list[list[dict[str, Any]]], dict[str, int]]:
    rng = random.Random(f"{request.seed}:{channel}:{request.day}")
    n = request.size(500, floor=10)
    records = [_record(rng, channel, request.day, i) for i in range(n)]
    files = [records[k :: request.files] for k in range(request.files)]
    earlier = [r for f in files[:-1] for r in f]  # a correction comes in a later file than the original
    resent = [dict(r) for r in earlier if r["return_id"] is not None and rng.random() < 0.02]
    for r in resent:  # a correction: the later file wins
        r["amount"] = round(rng.uniform(5, 500), 2)
    files[-1].extend(resent)
    final: dict[str, dict[str, Any]] = {}
    for file_records in files:
        for r in file_records:
            if r["return_id"] is not None:
                final[r["return_id"]] = r
    null_ids = [r for r in records if r["return_id"] is None]
    settled = [*final.values(), *null_ids]
    quarantined = sum(_quarantined(r) for r in settled)
    counts = {
        "rows": sum(len(f) for f in files),
        "keys": len(final),
        "null_keys": len(null_ids),
        "resent": len(resent),
        "silver": len(settled) - quarantined,
        "quarantine": quarantined,
    }
    return files, counts


def _jsonl(records: list[dict[str, Any]]) -> str:
    lines = []
    for r in records:
        doc = {k: v for k, v in r.items() if not (k == "reason" and v is None)}  # missing key, as feeds do
        lines.append(json.dumps(doc))
    return "\n".join(lines) + "\n"


def _csv(records: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=FIELDS, lineterminator="\n")
    writer.writeheader()
    for r in records:
        writer.writerow({k: "" if v is None else v for k, v in r.items()})
    return out.getvalue()


def write_day(request: ReturnsDay, conn_id: str = DEFAULT_STORAGE_CONN_ID) -> dict[str, dict[str, int]]:
    """Write the day's drops (again: the same bytes) and the expected counts; the counts per channel."""
    from lakehouse_airflow.lake_files import write_text

    root = str(request.root).rstrip("/")
    expected = {}
    for channel, ext in CHANNELS.items():
        files, counts = _drops(request, channel)
        for k, records in enumerate(files, start=1):
            text = _jsonl(records) if ext == "jsonl" else _csv(records)
            write_text(conn_id, f"{root}/returns_raw/{channel}/{request.day}/returns-{request.day}-{k}.{ext}", text)
        expected[channel] = counts
    write_text(conn_id, f"{root}/_generator/returns-{request.day}.json", json.dumps(expected, indent=2, sort_keys=True))
    return expected
