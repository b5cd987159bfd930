"""File sources on real files, real Spark and Delta: the returns pipeline end to end against an
independent reading of the same files with DuckDB, and the exactly-once rules of the file manifest
(new files only, reruns, an out-of-order backfill, a late file, rewritten files under both
policies, corrupt files under both policies, an added and a missing column, an empty folder, NULL
and duplicate keys).

One scenario runs once (``scenario``), recording what each step left behind (collected before the
next step changes the tables); the tests assert on those records."""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path

import pytest

from lakehouse_airflow.config import PipelineConfig
from seed.returns import ReturnsDay, write_day
from support import kernel
from support.file_lake import BOTH, ReturnsLake, by_file, content, lines, shipped_file_pipeline
from support.returns_oracle import CHANNEL, oracle

D0, D1, D2, D3, D4, D5, D6 = (f"2026-11-{d}" for d in range(19, 26))


def _pipeline(tmp: Path, drops: Path) -> PipelineConfig:
    """The shipped returns pipeline on ``drops``; the store channel with the other two policies
    (rewritten files ignored, bad files skipped), and two tables over an empty folder."""

    def policies_and_empty_folders(raw: dict) -> None:
        raw["tables"]["returns_store"]["files"].update(on_modified="ignore", on_bad_file="skip")
        for name, allow, path in (("empty_strict", False, "nothing_here"), ("empty_ok", True, "nothing_here"),
                                  ("gone", True, "no_such_folder")):  # fmt: skip
            raw["tables"][name] = {
                "priority": 10 + len(raw["tables"]), "primary_key": ["return_id"], "allow_empty": allow,
                "files": {"format": "json", "path": path}, "silver": {"enabled": False},
                "columns": dict(raw["tables"]["returns_web"]["columns"]),
            }  # fmt: skip

    (drops / "nothing_here").mkdir(parents=True)
    return shipped_file_pipeline("returns", tmp, drops, policies_and_empty_folders)


@pytest.fixture(scope="module")
def scenario(spark, tmp_path_factory) -> ReturnsLake:
    tmp = tmp_path_factory.mktemp("files")
    drops = tmp / "drops"
    lake = ReturnsLake(spark, _pipeline(tmp, drops), tmp / "lake", drops)
    seen = lake.seen
    expected = {d: write_day(ReturnsDay(drops, dt.date.fromisoformat(d), sf=0.3)) for d in (D1, D2)}
    seen["expected"] = expected

    # 1. D1 while D2's drops are already there: only D1's files
    lake.run(D1)
    seen["d1"] = {t: lake.bronze(t) for t in BOTH}
    seen["d1_silver"] = {t: lake.silver(t) for t in BOTH}
    seen["d1_quarantine"] = {t: lake.quarantine_count(t) for t in BOTH}
    seen["d1_gold"] = lake.gold()
    seen["d1_files"] = {t: lake.files(t, D1) for t in BOTH}
    seen["d1_oracle"] = oracle(seen["d1_files"])

    # 2. D2, then a rerun of D2: the same rows, once
    lake.run(D2)
    seen["d2"] = {t: lake.bronze(t) for t in BOTH}
    seen["d2_gold"] = lake.gold()
    seen["d2_silver"] = {t: lake.silver(t) for t in BOTH}
    seen["d2_quarantine"] = {t: lake.quarantine_count(t) for t in BOTH}
    seen["d2_oracle"] = oracle({t: lake.files(t, D1, D2) for t in BOTH})
    lake.run(D2)
    seen["d2_rerun"] = {t: lake.bronze(t) for t in BOTH}
    seen["d2_rerun_gold"] = lake.gold()

    # 3. a late file for D1 arrives after D1 ran: the next run (D3) takes it; a rerun of D1 does not again
    late = drops / "returns_raw" / "web" / D1 / f"returns-{D1}-late.jsonl"
    late.write_text("".join(json.dumps({"return_id": f"W-LATE-{i}", "order_id": i, "sku": "SKU-00001",
                                        "return_date": D1, "reason": "damaged", "quantity": 1, "amount": 10 + i})
                            + "\n" for i in range(5)))  # fmt: skip
    seen["late"] = str(late)
    lake.run(D3, ("returns_web",), ("bronze", "silver"))
    lake.run(D1, ("returns_web",), ("bronze",))
    seen["after_late"] = lake.bronze("returns_web")
    seen["after_late_silver"] = lake.silver("returns_web")

    # 4. a backfill of an older date, after later dates loaded: its own files only
    write_day(ReturnsDay(drops, dt.date.fromisoformat(D0), sf=0.3))
    lake.run(D0, BOTH, ("bronze",))
    seen["after_backfill"] = {t: lake.bronze(t) for t in BOTH}
    seen["after_backfill_files"] = {t: lake.loaded_files(t) for t in BOTH}

    # 5. D1's first web and store files rewritten in place: web reloads (run D4), store ignores
    rewritten = {}
    for table in BOTH:
        path = lake.files(table, D1)[0]
        text = path.read_text()
        changed = text.replace("SKU-0", "SKU-9")  # same keys, other SKUs
        assert changed != text
        path.write_text(changed)
        os.utime(path, (path.stat().st_atime, path.stat().st_mtime + 5))
        rewritten[table] = str(path)
    seen["rewritten"] = rewritten
    seen["before_rewrite_store"] = seen["after_backfill"]["returns_store"]
    web_run = lake.run(D4, ("returns_web",), ("bronze", "silver"))
    store_run = lake.run(D4, ("returns_store",), ("bronze",))
    seen["after_rewrite"] = {t: lake.bronze(t) for t in BOTH}
    seen["after_rewrite_silver"] = lake.silver("returns_web")
    seen["rewrite_results"] = {
        "web": lake.result(web_run, "returns_web", "extract"),
        "store": lake.result(store_run, "returns_store", "extract"),
    }

    # 6. corrupt files: web fails naming the file (bronze untouched); store skips it and loads the rest
    day5 = {t: drops / "returns_raw" / CHANNEL[t] / D5 for t in BOTH}
    for folder in day5.values():
        folder.mkdir(parents=True)
    broken_web = day5["returns_web"] / "broken.jsonl"
    broken_web.write_text('{"return_id": "W-X", "sku": \n not json at all\n')
    version = lake.bronze_version("returns_web")
    _, seen["corrupt_web_error"] = lake.failing(D5, ("returns_web",))
    seen["corrupt_web_versions"] = (version, lake.bronze_version("returns_web"))
    seen["corrupt_web_manifest"] = str(broken_web) in {p for _, p in lake.manifest()}
    broken_web.unlink()
    (day5["returns_store"] / "broken.csv").write_bytes(b"\xff\xfe\x00\x01garbage\x00\x9c")
    good = day5["returns_store"] / "good.csv"
    # another column order, and a column outside the contract in the middle: matched by name
    good.write_text(
        "return_date,note,sku,return_id,amount,order_id,reason,quantity\n2026-11-24,x,SKU-00002,S-GOOD-1,5.25,1,damaged,3\n"
    )
    lake.run(D5, ("returns_store",), ("bronze",))
    seen["skip_manifest"] = lake.manifest()
    seen["skip_bronze"] = lake.bronze("returns_store")
    seen["skip_paths"] = (str(day5["returns_store"] / "broken.csv"), str(good))

    # 7. an added column evolves bronze; 8. a missing contract column fails before any write
    extra = day5["returns_web"] / "extra.jsonl"
    extra.write_text(json.dumps({"return_id": "W-EXTRA-1", "order_id": 7, "sku": "SKU-00003", "return_date": D5,
                                 "reason": "damaged", "quantity": 2, "amount": "12.50", "channel_note": "app"}) + "\n")  # fmt: skip
    lake.run(D5, ("returns_web",), ("bronze",))
    seen["extra_bronze"] = lake.bronze("returns_web")
    missing = drops / "returns_raw" / "web" / D6 / "no-amount.jsonl"
    missing.parent.mkdir(parents=True)
    missing.write_text(json.dumps({"return_id": "W-MISS-1", "order_id": 8, "sku": "SKU-00004", "return_date": D6,
                                   "reason": "damaged", "quantity": 1}) + "\n")  # fmt: skip
    version = lake.bronze_version("returns_web")
    _, seen["missing_error"] = lake.failing(D6, ("returns_web",))
    seen["missing_versions"] = (version, lake.bronze_version("returns_web"))
    missing.unlink()

    # 9. an empty folder: refused by default, an empty load when allowed
    _, seen["empty_error"] = lake.failing(D1, ("empty_strict",))
    _, seen["gone_error"] = lake.failing(D1, ("gone",))
    empty_run = lake.run(D1, ("empty_ok",), ("bronze",))
    seen["empty_ok"] = (lake.result(empty_run, "empty_ok", "write_bronze"), lake.bronze("empty_ok"))
    seen["final_bronze_web"] = lake.bronze("returns_web")
    return lake


# -- end to end --------------------------------------------------------------------------------------


def test_first_run_loads_only_its_own_dates_files(scenario: ReturnsLake) -> None:
    for table in BOTH:
        rows = scenario.seen["d1"][table]
        d1_files = scenario.seen["d1_files"][table]
        assert set(by_file(rows)) == {str(f) for f in d1_files}, "D2's drops were there; D1 must not take them"
        assert by_file(rows) == {str(f): lines(f) for f in d1_files}
        assert {r["_logical_date"] for r in rows} == {dt.date.fromisoformat(D1)}


def test_silver_and_gold_equal_an_independent_reading_of_the_files(scenario: ReturnsLake) -> None:
    seen = scenario.seen
    for stage in ("d1", "d2"):
        expected = seen[f"{stage}_oracle"]
        for table in BOTH:
            assert seen[f"{stage}_silver"][table] == expected["silver"][table], f"{stage} {table}"
            assert seen[f"{stage}_quarantine"][table] == expected["quarantine"][table], f"{stage} {table}"
        assert seen[f"{stage}_gold"] == expected["gold"]
        assert len(seen[f"{stage}_gold"]) > 20


def test_silver_and_quarantine_counts_equal_the_generators_manifest(scenario: ReturnsLake) -> None:
    seen = scenario.seen
    for table in BOTH:
        channel = CHANNEL[table]
        days = seen["expected"]
        assert len(seen["d1_silver"][table]) == days[D1][channel]["silver"]
        assert seen["d1_quarantine"][table] == days[D1][channel]["quarantine"]
        assert len(seen["d2_silver"][table]) == days[D1][channel]["silver"] + days[D2][channel]["silver"]
        assert seen["d2_quarantine"][table] == days[D1][channel]["quarantine"] + days[D2][channel]["quarantine"]
        # the dirt is there: NULL keys each quarantined, corrections (a key sent twice) settled once
        assert days[D1][channel]["null_keys"] > 0 and days[D1][channel]["resent"] > 0


def test_duplicate_keys_across_files_keep_the_later_file(scenario: ReturnsLake) -> None:
    rows = scenario.seen["d1"]["returns_web"]
    by_key: dict[str, list[dict]] = {}
    for r in rows:
        if r["return_id"]:
            by_key.setdefault(r["return_id"], []).append(r)
    twice = {k: v for k, v in by_key.items() if len(v) > 1}
    assert twice, "the generator resends corrections"
    silver = scenario.seen["d1_silver"]["returns_web"]
    for key, versions in twice.items():
        latest = max(versions, key=lambda r: (r["_file_modification_time"], r["_source_file"]))
        if key in silver:
            assert silver[key][5] == Decimal(str(latest["amount"])), key


def test_rescued_values_stay_in_bronze_and_quarantine_the_row(scenario: ReturnsLake) -> None:
    rows = scenario.seen["d1"]["returns_store"]
    rescued = [r for r in rows if r["_rescued_data"]]
    assert rescued and all(json.loads(r["_rescued_data"]) == {"amount": "n/a"} for r in rescued)
    assert all(r["amount"] is None for r in rescued)
    silver = scenario.seen["d1_silver"]["returns_store"]
    assert not {r["return_id"] for r in rescued} & set(silver)


def test_a_rerun_reloads_the_same_rows_once(scenario: ReturnsLake) -> None:
    seen = scenario.seen
    for table in BOTH:
        assert content(seen["d2_rerun"][table]) == content(seen["d2"][table])
    assert seen["d2_rerun_gold"] == seen["d2_gold"]


def test_a_late_file_lands_once_in_the_next_run(scenario: ReturnsLake) -> None:
    rows = [r for r in scenario.seen["after_late"] if r["_source_file"] == scenario.seen["late"]]
    assert len(rows) == 5, "loaded once, and the rerun of its own date did not load it again"
    assert {r["_logical_date"] for r in rows} == {dt.date.fromisoformat(D3)}
    assert {f"W-LATE-{i}" for i in range(5)} <= set(scenario.seen["after_late_silver"])


def test_an_out_of_order_backfill_takes_only_its_files(scenario: ReturnsLake) -> None:
    for table in BOTH:
        rows = scenario.seen["after_backfill"][table]
        d0 = [r for r in rows if r["_logical_date"] == dt.date.fromisoformat(D0)]
        assert set(by_file(d0)) == {str(f) for f in scenario.files(table, D0)}
        # every loaded file exactly once: rows per file = the file's lines
        assert by_file(rows) == {str(f): lines(f) for f in scenario.seen["after_backfill_files"][table]}


def test_a_rewritten_file_is_reloaded_under_reload(scenario: ReturnsLake) -> None:
    path = scenario.seen["rewritten"]["returns_web"]
    rows = [r for r in scenario.seen["after_rewrite"]["returns_web"] if r["_source_file"] == path]
    assert len(rows) == lines(Path(path)), "the new version's rows, once (the old slice's rows replaced)"
    assert {r["_logical_date"] for r in rows} == {dt.date.fromisoformat(D4)}
    assert all(r["sku"] is None or "SKU-9" in r["sku"] for r in rows)
    silver = scenario.seen["after_rewrite_silver"]
    skus = {silver[r["return_id"]][1] for r in rows if r["return_id"] in silver}
    assert skus and all(s.startswith("SKU-9") for s in skus)
    assert scenario.seen["rewrite_results"]["web"]["metrics"]["files_replaced"]


def test_a_rewritten_file_is_kept_and_reported_under_ignore(scenario: ReturnsLake) -> None:
    path = scenario.seen["rewritten"]["returns_store"]
    before = [r for r in scenario.seen["before_rewrite_store"] if r["_source_file"] == path]
    after = [r for r in scenario.seen["after_rewrite"]["returns_store"] if r["_source_file"] == path]
    assert before and content(after) == content(before)
    assert scenario.seen["rewrite_results"]["store"]["metrics"]["files_modified_ignored"] == 1


def test_a_corrupt_file_fails_the_table_naming_it_and_writes_nothing(scenario: ReturnsLake) -> None:
    error = scenario.seen["corrupt_web_error"]
    assert "broken.jsonl" in error and "not JSON" in error
    before, after = scenario.seen["corrupt_web_versions"]
    assert after == before
    assert scenario.seen["corrupt_web_manifest"] is False


def test_a_corrupt_file_is_skipped_and_recorded_under_skip(scenario: ReturnsLake) -> None:
    broken, good = scenario.seen["skip_paths"]
    entry = scenario.seen["skip_manifest"][("returns_store", broken)]
    assert entry["status"] == "skipped" and "encoding" in entry["error"]
    files = by_file(scenario.seen["skip_bronze"])
    assert broken not in files and files[good] == 1
    (row,) = [r for r in scenario.seen["skip_bronze"] if r["_source_file"] == good]
    found = (row["return_id"], row["sku"], row["amount"], row["order_id"], row["quantity"], row["note"])
    assert found == ("S-GOOD-1", "SKU-00002", Decimal("5.25"), 1, 3, "x")  # by name, whatever the column order


def test_an_added_column_evolves_bronze(scenario: ReturnsLake) -> None:
    rows = [r for r in scenario.seen["extra_bronze"] if r["return_id"] == "W-EXTRA-1"]
    assert len(rows) == 1 and rows[0]["channel_note"] == "app" and rows[0]["amount"] == Decimal("12.50")


def test_a_missing_column_fails_before_any_write(scenario: ReturnsLake) -> None:
    error = scenario.seen["missing_error"]
    assert "no-amount.jsonl" in error and "amount" in error and "missing" in error
    before, after = scenario.seen["missing_versions"]
    assert after == before


def test_an_empty_folder_is_refused_unless_allowed(scenario: ReturnsLake) -> None:
    assert "holds no files" in scenario.seen["empty_error"] and "allow_empty" in scenario.seen["empty_error"]
    assert "no_such_folder does not exist" in scenario.seen["gone_error"]
    result, rows = scenario.seen["empty_ok"]
    assert result["status"] == "SUCCESS" and result["metrics"]["rows_written"] == 0 and rows == []


def test_a_second_delta_reader_sees_the_same_bronze(scenario: ReturnsLake) -> None:
    con = kernel.connect()
    path = scenario.root / "returns_bronze" / "bz_returns_web"
    theirs = sorted(
        (str(f), str(k)) for f, k in con.execute(f"SELECT _source_file, return_id FROM delta_scan('{path}')").fetchall()
    )
    ours = sorted((r["_source_file"], str(r["return_id"])) for r in scenario.seen["final_bronze_web"])
    assert theirs == ours and len(ours) > 100
