"""Every bronze, silver and gold table is an Airflow Asset, emitted by the one task that commits it,
with the same URI in every environment and on both backends."""

from __future__ import annotations

from pathlib import Path

import pytest

from lakehouse_airflow.config import load_pipeline
from lakehouse_airflow.operators.assets import ASSET_GROUP

ROOT = Path(__file__).resolve().parents[2]
PIPELINES = ROOT / "include" / "pipelines"


def silver_of(cfg) -> list[str]:
    return [c.name for c in cfg.silver_tables()]


def _expected(name: str) -> dict[str, str]:
    """Committing task id -> asset URI, from the pipeline file (an independent reading of it)."""
    cfg = load_pipeline(PIPELINES / f"{name}.yaml")
    s = cfg.lakehouse
    out = {f"{t}.write_bronze": f"x-lakehouse://{s.bronze_schema}/{s.bronze_prefix}{t}" for t in cfg.tables}
    silver = silver_of(cfg)
    out |= {f"{s.silver_schema}.{t}": f"x-lakehouse://{s.silver_schema}/{t}" for t in silver}
    out |= {f"{s.gold_schema}.{m}": f"x-lakehouse://{s.gold_schema}/{m}" for m in cfg.gold.models}
    return out


@pytest.mark.parametrize("env", ["local", "dev"])
def test_each_committing_task_emits_its_table_and_nothing_else_does(monkeypatch: pytest.MonkeyPatch, env) -> None:
    from airflow.dag_processing.dagbag import DagBag
    from airflow.serialization.serialized_objects import DagSerialization

    monkeypatch.setenv("LAKEHOUSE_ENV", env)
    bag = DagBag(dag_folder=str(ROOT / "dags"))
    assert bag.import_errors == {}
    seen: dict[str, str] = {}
    for name in ("inventory", "returns", "media"):
        dag_id = load_pipeline(PIPELINES / f"{name}.yaml").dag_id
        # what the scheduler registers: the serialized DAG
        dag = DagSerialization.from_dict(DagSerialization.to_dict(bag.dags[dag_id]))
        found = {t.task_id: [(a.name, a.uri, a.group) for a in t.outlets] for t in dag.tasks if t.outlets}
        expected = _expected(name)
        assert {t: [u for _, u, _ in a] for t, a in found.items()} == {t: [u] for t, u in expected.items()}
        for ((asset_name, uri, group),) in found.values():
            assert group == ASSET_GROUP and uri == f"x-lakehouse://{asset_name.replace('.', '/', 1)}"
            assert seen.setdefault(asset_name, uri) == uri  # one URI per table across the DAGs
        # the maintenance and DR DAGs commit no layer table of a run: they emit none
        # inlets: silver reads its bronze table, gold its silver inputs (dq_results is a control
        # table): each is an asset some task of the same DAG emits, so the lineage graph is closed
        cfg = load_pipeline(PIPELINES / f"{name}.yaml")
        lake = cfg.lakehouse
        inlets = {t.task_id: sorted(a.name for a in t.inlets) for t in dag.tasks if t.inlets}
        want = {f"{lake.silver_schema}.{t}": [f"{lake.bronze_schema}.{lake.bronze_prefix}{t}"] for t in silver_of(cfg)}
        for model, gold in cfg.gold.models.items():
            want[f"{lake.gold_schema}.{model}"] = sorted(
                f"{lake.silver_schema}.{i}" for i in gold.inputs if i != "dq_results"
            )
        assert inlets == want
        assert {n for names in inlets.values() for n in names} <= {n for ((n, _, _),) in found.values()}
    side = [d for d in bag.dags.values() if d.dag_id.endswith(("_maintenance", "_dr"))]
    assert len(side) >= 2 and not any(t.outlets for d in side for t in d.tasks)


def test_the_event_extra_names_the_run_and_its_slice() -> None:
    import pendulum

    from lakehouse_airflow.operators.assets import commit_extra

    class TI:
        dag_id, run_id = "inventory_lakehouse", "manual__2026-11-20"

    start, end = pendulum.datetime(2026, 11, 19, 20, 30), pendulum.datetime(2026, 11, 20, 20, 30)
    context = {"ti": TI(), "ds": "2026-11-20", "data_interval_start": start, "data_interval_end": end,
               "params": {"mode": "incremental", "tables": []}}  # fmt: skip
    assert commit_extra(context) == {  # type: ignore[arg-type]
        "dag_id": "inventory_lakehouse",
        "run_id": "manual__2026-11-20",
        "logical_date": "2026-11-20",
        "data_interval_start": "2026-11-19T20:30:00+00:00",
        "data_interval_end": "2026-11-20T20:30:00+00:00",
        "mode": "incremental",
    }
