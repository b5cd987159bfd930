"""Decoding PostgreSQL's built-in logical replication output (``pgoutput``, protocol version 1).

Pure Python over the binary messages ``pg_logical_slot_peek_binary_changes`` returns (one message
per row): Begin / Relation / Insert / Update / Delete / Truncate / Commit, as specified in
"Logical Replication Message Formats" of the PostgreSQL manual. Values arrive in their text form
(the job casts them to the contract's types in Spark). Only committed transactions are decoded,
in commit order; every change row carries its transaction's end LSN (the position right after its
commit record: what orders transactions, and where a slot that has stored it is confirmed), its
position inside the transaction and the commit time. An update that changed the replica identity
(the primary key) is two changes: a delete of the old key, then the update.
"""

from __future__ import annotations

import datetime as dt
import struct
from collections.abc import Iterable
from dataclasses import dataclass, field

PG_EPOCH = dt.datetime(2000, 1, 1, tzinfo=dt.UTC)
INSERT, UPDATE, DELETE = "I", "U", "D"


class CdcDecodeError(RuntimeError):
    """A message this decoder cannot turn into change rows without losing data."""


def lsn_to_int(lsn: str) -> int:
    """``'16/B374D848'`` -> the 64-bit position (what orders changes)."""
    high, _, low = lsn.partition("/")
    return (int(high, 16) << 32) | int(low, 16)


def int_to_lsn(value: int) -> str:
    return f"{value >> 32:X}/{value & 0xFFFFFFFF:X}"


@dataclass(frozen=True)
class Relation:
    oid: int
    schema: str
    name: str
    columns: tuple[str, ...]
    key: tuple[str, ...]  # the replica identity's columns

    @property
    def qualified(self) -> str:
        return f"{self.schema}.{self.name}"


@dataclass(frozen=True)
class Change:
    """One row change of a committed transaction (``values``: column -> text, None for NULL;
    a delete carries the key columns only)."""

    op: str  # I / U / D
    relation: str  # schema.table
    values: dict[str, str | None]
    lsn: int  # the end LSN of the change's transaction
    seq: int  # position inside the transaction
    commit_time: dt.datetime


@dataclass
class _Reader:
    data: bytes
    pos: int = 0

    def byte(self) -> str:
        b = self.data[self.pos : self.pos + 1].decode("ascii")
        self.pos += 1
        return b

    def _unpack(self, fmt: str) -> int:
        size = struct.calcsize(fmt)
        (value,) = struct.unpack_from(fmt, self.data, self.pos)
        self.pos += size
        return int(value)

    def int8(self) -> int:
        return self._unpack("!b")

    def int16(self) -> int:
        return self._unpack("!h")

    def int32(self) -> int:
        return self._unpack("!i")

    def uint32(self) -> int:
        return self._unpack("!I")

    def int64(self) -> int:
        return self._unpack("!q")

    def string(self) -> str:
        end = self.data.index(b"\0", self.pos)
        text = self.data[self.pos : end].decode("utf-8")
        self.pos = end + 1
        return text

    def tuple_data(self) -> list[tuple[str, str | None]]:
        """(kind, text) per column: kind n (NULL), u (unchanged TOAST value, not sent), t (text)."""
        out: list[tuple[str, str | None]] = []
        for _ in range(self.int16()):
            kind = self.byte()
            if kind in ("n", "u"):
                out.append((kind, None))
            elif kind == "t":
                size = self.int32()
                out.append((kind, self.data[self.pos : self.pos + size].decode("utf-8")))
                self.pos += size
            else:
                raise CdcDecodeError(f"tuple column kind {kind!r} is not supported (binary mode is not used)")
        return out


def _timestamp(micros: int) -> dt.datetime:
    return PG_EPOCH + dt.timedelta(microseconds=micros)


@dataclass
class Decoder:
    """Feeds on messages in slot order; ``changes`` holds the rows of the transactions committed so far
    and ``end_lsn`` the end of the last of them (where the slot may be confirmed once they are stored)."""

    relations: dict[int, Relation] = field(default_factory=dict)
    changes: list[Change] = field(default_factory=list)
    end_lsn: int | None = None
    transactions: int = 0
    _pending: list[tuple[str, str, dict[str, str | None]]] = field(default_factory=list)

    def feed(self, messages: Iterable[bytes]) -> Decoder:
        for message in messages:
            self._one(_Reader(bytes(message)))
        return self

    def _row(self, rel: Relation, cells: list[tuple[str, str | None]], old: dict[str, str | None] | None) -> dict:
        if len(cells) != len(rel.columns):
            raise CdcDecodeError(f"{rel.qualified}: a row of {len(cells)} columns for {len(rel.columns)} described")
        row: dict[str, str | None] = {}
        for name, (kind, text) in zip(rel.columns, cells, strict=True):
            if kind == "u":  # a large value the update left unchanged is not in the log
                if old is None or name not in old:
                    raise CdcDecodeError(
                        f"{rel.qualified}.{name}: an UPDATE left a large (TOASTed) value unchanged and the "
                        f"log does not carry it; set REPLICA IDENTITY FULL on {rel.qualified} so it does"
                    )
                row[name] = old[name]
            else:
                row[name] = text
        return row

    def _one(self, r: _Reader) -> None:
        kind = r.byte()
        if kind == "B":
            r.int64(), r.int64(), r.int32()
            self._pending = []
        elif kind == "C":
            r.int8()
            _, end_lsn, when = r.int64(), r.int64(), _timestamp(r.int64())
            self.changes.extend(
                Change(op, rel, values, end_lsn, seq, when) for seq, (op, rel, values) in enumerate(self._pending)
            )
            self._pending, self.end_lsn = [], end_lsn
            self.transactions += 1
        elif kind == "R":
            oid, schema, name = r.uint32(), r.string(), r.string()
            r.int8()  # replica identity setting
            cols, key = [], []
            for _ in range(r.int16()):
                flags, col = r.int8(), r.string()
                r.uint32(), r.int32()  # type oid, modifier
                cols.append(col)
                if flags & 1:
                    key.append(col)
            self.relations[oid] = Relation(oid, schema or "pg_catalog", name, tuple(cols), tuple(key))
        elif kind in ("I", "U", "D"):
            self._change(kind, r)
        elif kind == "T":
            count, _ = r.int32(), r.int8()
            names = [self._relation(r.uint32()).qualified for _ in range(count)]
            raise CdcDecodeError(
                f"TRUNCATE of {', '.join(names)} under change data capture: the log carries no rows to "
                "delete; re-snapshot the table (run it with mode=full)"
            )
        elif kind in ("Y", "O", "M"):  # type descriptions, origins, logical messages: nothing to store
            return
        else:
            raise CdcDecodeError(f"unknown pgoutput message {kind!r}")

    def _relation(self, oid: int) -> Relation:
        if oid not in self.relations:
            raise CdcDecodeError(f"a change of relation {oid} before its description")
        return self.relations[oid]

    def _change(self, kind: str, r: _Reader) -> None:
        rel = self._relation(r.uint32())
        marker = r.byte()
        if kind == "I":
            self._pending.append((INSERT, rel.qualified, self._row(rel, r.tuple_data(), None)))
            return
        old: dict[str, str | None] | None = None
        if marker in ("K", "O"):  # the old key (identity changed, or a delete) / the old row (identity FULL)
            cells = r.tuple_data()
            old = {c: t for c, (k, t) in zip(rel.columns, cells, strict=True) if k != "n" or c in rel.key}
            if kind == "D":
                self._pending.append((DELETE, rel.qualified, {c: old.get(c) for c in rel.key or rel.columns}))
                return
            marker = r.byte()
        if marker != "N":
            raise CdcDecodeError(f"{rel.qualified}: unexpected UPDATE layout (marker {marker!r})")
        new = self._row(rel, r.tuple_data(), old)
        if old is not None and any(old.get(k) != new.get(k) for k in rel.key):  # the key changed
            self._pending.append((DELETE, rel.qualified, {k: old.get(k) for k in rel.key}))
        self._pending.append((UPDATE, rel.qualified, new))
