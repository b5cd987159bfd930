"""Change data capture without a server: the pgoutput decoder on messages built to the protocol's
specification, the slot names, and what a ``cadence: cdc`` table turns into (specs and tasks).
The integration suite (tests/integration/test_cdc.py) decodes a real server's log."""

from __future__ import annotations

import datetime as dt
import struct
from pathlib import Path

import pytest
import yaml

from lakehouse_airflow.config import PipelineConfigError, load_pipeline, with_absolute_sql_paths
from lakehouse_airflow.describe.pipeline import pipeline_specs
from lakehouse_airflow.describe.tasks import SparkTask
from lakehouse_contract.naming import cdc_slot
from lakehouse_contract.specs import ExtractCdcSpec, ExtractSpec, SilverSpec, WriteBronzeSpec, parse_spec
from spark_jobs.storage.pgoutput import PG_EPOCH, CdcDecodeError, Decoder, int_to_lsn, lsn_to_int
from support.shipped import build_variant, shipped_raw, with_cadence

ROOT = Path(__file__).resolve().parents[2]
SHIPPED = ROOT / "include" / "pipelines" / "inventory.yaml"
REL = 16_400
WHEN = dt.datetime(2026, 11, 21, 10, 30, tzinfo=dt.UTC)


def _s(text: str) -> bytes:
    return text.encode() + b"\0"


def _micros(when: dt.datetime) -> int:
    return (when - PG_EPOCH) // dt.timedelta(microseconds=1)


def begin() -> bytes:
    return b"B" + struct.pack("!qqi", 0x1000, _micros(WHEN), 42)


def commit(end_lsn: int) -> bytes:
    return b"C" + struct.pack("!bqqq", 0, end_lsn - 8, end_lsn, _micros(WHEN))


def relation(columns: list[tuple[str, bool]]) -> bytes:
    body = struct.pack("!I", REL) + _s("src") + _s("accounts") + struct.pack("!bh", ord("d"), len(columns))
    for name, key in columns:
        body += struct.pack("!b", 1 if key else 0) + _s(name) + struct.pack("!Ii", 25, -1)
    return b"R" + body


def tuple_data(*values: str | None, unchanged: tuple[int, ...] = ()) -> bytes:
    out = struct.pack("!h", len(values))
    for i, value in enumerate(values):
        if i in unchanged:
            out += b"u"
        elif value is None:
            out += b"n"
        else:
            raw = value.encode()
            out += b"t" + struct.pack("!i", len(raw)) + raw
    return out


def insert(*values: str | None) -> bytes:
    return b"I" + struct.pack("!I", REL) + b"N" + tuple_data(*values)


def update(new: tuple, old_key: tuple | None = None, old_row: tuple | None = None, unchanged=()) -> bytes:
    body = b"U" + struct.pack("!I", REL)
    if old_key is not None:
        body += b"K" + tuple_data(*old_key)
    if old_row is not None:
        body += b"O" + tuple_data(*old_row)
    return body + b"N" + tuple_data(*new, unchanged=unchanged)


def delete(*key: str | None) -> bytes:
    return b"D" + struct.pack("!I", REL) + b"K" + tuple_data(*key)


COLUMNS = [("id", True), ("name", False), ("note", False)]


def test_lsn_text_and_position_round_trip() -> None:
    assert lsn_to_int("16/B374D848") == (0x16 << 32) | 0xB374D848
    assert int_to_lsn(lsn_to_int("16/B374D848")) == "16/B374D848"
    assert lsn_to_int("0/10") < lsn_to_int("0/100") < lsn_to_int("1/0")


def test_committed_changes_in_order_with_the_transaction_end_and_time() -> None:
    decoder = Decoder().feed(
        [
            begin(),
            relation(COLUMNS),
            insert("1", "one", None),
            update(("1", "uno", "x")),
            commit(0x2000),
            begin(),
            delete("1", None, None),
            insert("2", "two", "y"),
            commit(0x3000),
        ]  # fmt: skip
    )
    got = [(c.op, c.values, c.lsn, c.seq) for c in decoder.changes]
    assert got == [
        ("I", {"id": "1", "name": "one", "note": None}, 0x2000, 0),
        ("U", {"id": "1", "name": "uno", "note": "x"}, 0x2000, 1),
        ("D", {"id": "1"}, 0x3000, 0),  # a delete carries the key only
        ("I", {"id": "2", "name": "two", "note": "y"}, 0x3000, 1),
    ]
    assert decoder.end_lsn == 0x3000 and decoder.transactions == 2
    assert {c.commit_time for c in decoder.changes} == {WHEN} and decoder.changes[0].relation == "src.accounts"


def test_a_transaction_without_its_commit_yields_nothing() -> None:
    decoder = Decoder().feed([begin(), relation(COLUMNS), insert("1", "one", None)])
    assert decoder.changes == [] and decoder.end_lsn is None


def test_a_key_change_is_a_delete_of_the_old_key_then_the_update() -> None:
    decoder = Decoder().feed(
        [begin(), relation(COLUMNS), update(("9", "nine", None), old_key=("1", None, None)), commit(0x2000)]
    )
    assert [(c.op, c.values, c.seq) for c in decoder.changes] == [
        ("D", {"id": "1"}, 0),
        ("U", {"id": "9", "name": "nine", "note": None}, 1),
    ]


def test_an_unchanged_large_value_comes_from_the_old_row_or_stops_the_run() -> None:
    full = Decoder().feed(
        [
            begin(),
            relation(COLUMNS),
            update(("1", "new", None), old_row=("1", "old", "big"), unchanged=(2,)),
            commit(0x2000),
        ]  # fmt: skip
    )
    assert full.changes[0].values == {"id": "1", "name": "new", "note": "big"}
    with pytest.raises(CdcDecodeError, match="REPLICA IDENTITY FULL"):
        Decoder().feed([begin(), relation(COLUMNS), update(("1", "new", None), unchanged=(2,)), commit(0x2000)])


def test_truncate_and_unknown_messages_are_refused_with_the_way_out() -> None:
    truncate = b"T" + struct.pack("!ibI", 1, 0, REL)
    with pytest.raises(CdcDecodeError, match=r"TRUNCATE of src.accounts.*mode=full"):
        Decoder().feed([begin(), relation(COLUMNS), truncate])
    with pytest.raises(CdcDecodeError, match="before its description"):
        Decoder().feed([begin(), insert("1", "one", None)])
    with pytest.raises(CdcDecodeError, match="unknown pgoutput message"):
        Decoder().feed([b"Z"])


def test_slot_names_are_valid_postgresql_names_and_stable() -> None:
    assert cdc_slot("inventory_lakehouse", "orders") == "lakehouse_inventory_lakehouse_orders"
    assert cdc_slot("Team.Pipe-1", "t") == "lakehouse_team_pipe_1_t"
    long = cdc_slot("a" * 60, "order_details")
    assert len(long) == 63 and long == cdc_slot("a" * 60, "order_details")
    assert long != cdc_slot("a" * 60, "order_detailz")


def _cdc_pipeline(tmp_path: Path, **table_settings) -> Path:
    raw = with_absolute_sql_paths(yaml.safe_load(SHIPPED.read_text()), SHIPPED)
    raw["tables"]["orders"].update({"cadence": "cdc", **table_settings})
    (tmp_path / "p.yaml").write_text(yaml.safe_dump(raw))
    return tmp_path / "p.yaml"


def test_a_cdc_table_reads_its_slot_and_its_write_confirms_it(tmp_path: Path) -> None:
    cfg = load_pipeline(_cdc_pipeline(tmp_path, cdc_max_changes=1234))
    tasks = {s.full_id: s for s in pipeline_specs(cfg) if isinstance(s, SparkTask)}
    extract, write = tasks["orders.extract"].spec, tasks["orders.write_bronze"].spec
    silver = tasks["inventory_silver.orders"].spec
    assert isinstance(extract, ExtractCdcSpec) and isinstance(write, WriteBronzeSpec) and isinstance(silver, SilverSpec)
    assert extract.cdc == write.cdc and extract.cdc.slot == extract.cdc.publication == cdc_slot(cfg.dag_id, "orders")
    assert extract.cdc.source == "tests.orders" and extract.max_changes == 1234
    assert extract.cdc.jdbc_secret.startswith("env:")  # by reference, never the value
    assert silver.load_mode == "cdc" and "_lsn" in write.stats_columns
    # both touch the source (the log, the slot): both get its connection at execute time
    assert tasks["orders.extract"].source_conn_id == tasks["orders.write_bronze"].source_conn_id == "inventory_source"
    assert parse_spec(extract.to_json()) == extract  # the spec travels as JSON
    # the other tables are untouched
    assert isinstance(tasks["customers.extract"].spec, ExtractSpec)
    assert tasks["customers.write_bronze"].spec.cdc is None and tasks["customers.write_bronze"].source_conn_id is None


def test_cadence_values_and_sources_are_checked(tmp_path: Path) -> None:
    raw = yaml.safe_load(SHIPPED.read_text())
    raw["tables"]["orders"]["cadence"] = "hourly-ish"
    (tmp_path / "bad.yaml").write_text(yaml.safe_dump(raw))
    with pytest.raises(PipelineConfigError, match="cadence"):
        load_pipeline(tmp_path / "bad.yaml")
    returns = yaml.safe_load((ROOT / "include" / "pipelines" / "returns.yaml").read_text())
    returns["tables"]["returns_web"]["cadence"] = "cdc"
    (tmp_path / "files.yaml").write_text(yaml.safe_dump(returns))
    with pytest.raises(PipelineConfigError, match="cdc reads a database's log, not files"):
        load_pipeline(tmp_path / "files.yaml")


def test_on_databricks_the_slot_is_read_through_the_secret_scope(tmp_path: Path) -> None:
    from lakehouse_airflow.config.environments import load_environments
    from lakehouse_airflow.databricks.payload import remote_spec

    cfg = load_pipeline(_cdc_pipeline(tmp_path))
    env = next(e.databricks for e in load_environments().values() if e.databricks is not None)
    spec = next(s.spec for s in pipeline_specs(cfg) if isinstance(s, SparkTask) and s.full_id == "orders.extract")
    remote = remote_spec(spec, env)
    assert isinstance(remote, ExtractCdcSpec) and remote.cdc.jdbc_secret == f"dbsecrets:{env.secret_scope}"
    assert remote.cdc.slot == spec.cdc.slot  # the slot is the source's, the same from every backend


def _cdc_dags(tmp_path: Path) -> dict:
    raw = with_cadence(shipped_raw(), "cdc", ("inventory", "orders", "order_details"))  # the real-time tables
    raw["cdc"] = {"schedule": "*/10 * * * *", "wait_minutes": 45}
    return build_variant(tmp_path, raw)


def test_cdc_tables_get_their_own_dag_and_the_main_dag_waits_for_their_silver(tmp_path: Path) -> None:
    from airflow.sdk import Asset

    from lakehouse_airflow.operators.caught_up import CaughtUpSensor

    dags = _cdc_dags(tmp_path)
    main, cdc = dags["inventory_lakehouse"], dags["inventory_lakehouse_cdc"]
    cdc_ids = set(cdc.task_dict)
    assert cdc_ids == {
        f"{t}.{step}" for t in ("inventory", "orders", "order_details")
        for step in ("validate_connection", "extract", "write_bronze", "audit")
    } | {f"inventory_silver.{t}" for t in ("inventory", "orders", "order_details")} | {"summary", "cdc_slots"}  # fmt: skip
    check = cdc.task_dict["cdc_slots"]  # the slots checked after every run, whatever the tables did
    assert check.trigger_rule == "all_done" and check.upstream_task_ids == cdc_ids - {"summary", "cdc_slots"}
    assert cdc.timetable.expression == "*/10 * * * *" and cdc.max_active_runs == 1 and not cdc.catchup
    # the jobs of the CDC DAG record under its id (step results, the monitor's view of the run)
    assert '"dag_id":"inventory_lakehouse_cdc"' in cdc.task_dict["orders.extract"].application_args[2]
    assert not cdc_ids - {"summary", "cdc_slots"} & set(main.task_dict)  # each task in one DAG only
    # the main DAG: everything else; what read a CDC silver table now waits for the CDC DAG
    wait = main.task_dict["inventory_silver.cdc_caught_up"]
    assert isinstance(wait, CaughtUpSensor) and wait.mode == "reschedule" and wait.timeout == 45 * 60
    assert {a.uri for a in wait.inlets if isinstance(a, Asset)} == {
        f"x-lakehouse://inventory_silver/{t}" for t in ("inventory", "orders", "order_details")
    }
    assert "inventory_silver.cdc_caught_up" in main.task_dict["inventory_gold.daily_sales"].upstream_task_ids
    assert "inventory_silver.cdc_caught_up" in main.task_dict["inventory_silver.shipments"].upstream_task_ids  # FK
    assert main.task_dict["inventory_gold.daily_sales"].upstream_task_ids == {
        "inventory_silver.cdc_caught_up", "inventory_silver.products"
    }  # fmt: skip
    assert main.params.get_param("tables").schema["items"]["enum"] == [
        "products", "suppliers", "warehouses", "customers", "shipments", "returns", "stock_levels"
    ]  # fmt: skip


def test_without_cdc_tables_there_is_one_dag_and_no_wait(tmp_path: Path) -> None:
    from lakehouse_airflow.build.dag import build_all

    (tmp_path / "p.yaml").write_text(
        yaml.safe_dump(with_absolute_sql_paths(yaml.safe_load(SHIPPED.read_text()), SHIPPED))
    )
    dags = build_all(str(tmp_path))
    assert "inventory_lakehouse_cdc" not in dags
    assert not any("cdc_caught_up" in t for t in dags["inventory_lakehouse"].task_dict)


class _Event:
    def __init__(self, end: str | None) -> None:
        self.extra = {"data_interval_end": end} if end else {}


class _Events(list):
    def ascending(self, _: bool) -> _Events:
        return _Events(reversed(self))

    def limit(self, n: int) -> _Events:
        return _Events(self[:n])


def test_the_wait_passes_only_once_every_table_covers_the_interval(tmp_path: Path) -> None:
    import pendulum

    sensor = _cdc_dags(tmp_path)["inventory_lakehouse"].task_dict["inventory_silver.cdc_caught_up"]
    end = pendulum.datetime(2026, 11, 21, 20, 30)
    covered = _Events([_Event("2026-11-21T20:00:00+00:00"), _Event("2026-11-21T20:40:00+00:00")])
    short = _Events([_Event("2026-11-21T20:20:00+00:00"), _Event(None)])
    names = [a.name for a in sensor.inlets]
    events = {a: covered for a in sensor.inlets}
    assert sensor.poke({"data_interval_end": end, "inlet_events": events}) is True
    events[sensor.inlets[1]] = short
    context = {"data_interval_end": end, "inlet_events": events}
    assert sensor.poke(context) is False
    assert sensor._behind(context) == [f"{names[1]} (covered up to 2026-11-21T20:20:00+00:00)"]
    events[sensor.inlets[1]] = _Events()
    assert sensor._behind(context) == [f"{names[1]} (covered up to never)"]


def test_metrics_survive_a_source_out_of_reach(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The slots are read live from the source on each scrape: a source that does not answer
    leaves them out (a warning), it does not break /metrics."""
    from lakehouse_airflow.monitor.metrics import render

    monkeypatch.setenv("AIRFLOW_CONN_INVENTORY_SOURCE", "postgresql://u:p@127.0.0.1:9/DE?connect_timeout=1")
    cfg = load_pipeline(_cdc_pipeline(tmp_path))
    text = render([], [cfg, cfg]).decode()
    assert "# TYPE lakehouse_cdc_slot_retained_bytes gauge" in text
    assert "lakehouse_cdc_slot_usable{" not in text


def test_slots_lost_missing_or_holding_too_much_wal_are_named_with_the_way_out() -> None:
    from lakehouse_airflow.monitor.cdc_slots import SlotState, slot_problems

    mib = 2**20
    states = [
        SlotState("d_cdc", "orders", "s_orders", True, 10 * mib),
        SlotState("d_cdc", "inventory", "s_inventory", True, 300 * mib),
        SlotState("d_cdc", "order_details", "s_details", False, None),
    ]
    problems = slot_problems(states, 256 * mib)
    assert len(problems) == 2
    assert problems[0].startswith("inventory: slot s_inventory holds back 300.0 MiB of WAL (limit 256 MiB)")
    assert problems[1].startswith("order_details: slot s_details is missing or lost its WAL -- re-snapshot")
    assert slot_problems(states[:1], 256 * mib) == []


def test_a_slot_not_confirmed_for_longer_than_the_lag_limit_is_named() -> None:
    from lakehouse_airflow.monitor.cdc_slots import SlotState, slot_problems

    states = [
        SlotState("d_cdc", "orders", "s_orders", True, 0, lag_seconds=300.0),
        SlotState("d_cdc", "inventory", "s_inventory", True, 0, lag_seconds=7200.0),
        SlotState("d_cdc", "shipments", "s_shipments", True, 0, lag_seconds=None),  # never confirmed under Airflow
    ]
    (problem,) = slot_problems(states, 2**30, max_lag_seconds=3600)
    assert problem.startswith("inventory: bronze may miss the changes of the last 120 min (limit 60 min)"), problem
    assert "s_inventory" in problem
    assert slot_problems(states, 2**30, max_lag_seconds=None) == []  # cdc.max_lag_minutes: null
