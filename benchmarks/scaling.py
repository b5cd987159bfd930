"""Scaling curve: the incremental benchmark at several scale factors, side by side in one run.

For each scale factor (default 0.1, 1 and 10): seed ``bench_inc``, the full load of D0 and the
incremental run of D1 after a day touching ~1% of rows (``benchmarks.incremental``), with the
peak memory of the project's processes during each DAG run and each Spark task's time around its
job (``benchmarks.task_cost``). Writes ``bench-results/scaling.json``
(after every scale factor, so a failed large run keeps the smaller ones), a Markdown table on
stdout and the plot ``bench-results/scaling.png`` (``--plot`` to write it elsewhere).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from benchmarks.incremental import day_pair_arguments, measure_day_pair
from benchmarks.results import save
from lakehouse_airflow.paths import PROJECT_ROOT

LAYERS = ("bronze", "silver", "gold")


def table(runs: list[dict[str, Any]]) -> str:
    """The README's scaling table (Markdown)."""
    head = ("| SF | source rows | full wall | incremental wall | inc / full | full: bronze / silver / gold in-job"
            " | incremental: bronze / silver / gold in-job | peak memory full / inc |")  # fmt: skip
    lines = [head, "|" + "---|" * 8]
    for r in runs:
        wall, layers, mem = r["dag_wall_s"], r["in_job_s_per_layer"], r["peak_memory"]
        split = {k: " / ".join(f"{layers[k].get(layer, 0):.0f}" for layer in LAYERS) for k in layers}
        lines.append(
            f"| {r['sf']:g} | {r['source_rows'] / 1e6:.2f} M | {wall['full']:.0f} s | {wall['incremental']:.0f} s"
            f" | {r['dag_wall_ratio']:.2f} | {split['full']} s | {split['incremental']} s"
            f" | {mem['full']['peak_gb']:.1f} / {mem['incremental']['peak_gb']:.1f} GB |"
        )
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], out: Path) -> None:
    """Wall time against scale factor (log-log), and where each run's time goes per layer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sfs = [r["sf"] for r in runs]
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 4.8))
    for kind, style in (("full", "o-"), ("incremental", "s--")):
        left.plot(sfs, [r["dag_wall_s"][kind] for r in runs], style, label=f"{kind} run (wall)")
    if 1.0 in sfs:
        base = next(r["dag_wall_s"]["full"] for r in runs if r["sf"] == 1.0)
        left.plot(sfs, [base * sf for sf in sfs], ":", color="grey", label="linear from the SF=1 full load")
    left.set(xscale="log", yscale="log", xlabel="scale factor (SF=1: 3.26 M source rows)", ylabel="seconds",
             title="Whole DAG, airflow dags test, 2 cores")  # fmt: skip
    left.legend()
    left.grid(True, which="both", alpha=0.3)

    labels, shares, walls = [], [], []
    for r in runs:
        for kind in ("full", "incremental"):
            layers, wall = r["in_job_s_per_layer"][kind], r["dag_wall_s"][kind]
            labels.append(f"SF {r['sf']:g}\n{'full' if kind == 'full' else 'inc'}")
            jobs = {layer: layers.get(layer, 0.0) for layer in LAYERS}
            shares.append({**jobs, "around": max(wall - sum(jobs.values()), 0.0)})
            walls.append(wall)
    x = list(range(len(labels)))
    acc = [0.0] * len(labels)
    for part, name in (*((layer, f"{layer} jobs") for layer in LAYERS), ("around", "around the jobs")):
        values = [100 * s[part] / w for s, w in zip(shares, walls, strict=True)]
        right.bar(x, values, bottom=acc, label=name, color="lightgrey" if part == "around" else None)
        acc = [a + v for a, v in zip(acc, values, strict=True)]
    for i, wall in enumerate(walls):
        right.annotate(f"{wall:.0f} s", (i, 100), ha="center", va="bottom", fontsize=8)
    right.set(ylim=(0, 112), ylabel="% of the run's wall time", title="Where the time goes (wall time on top)")
    right.set_xticks(x, labels, fontsize=8)
    right.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.14), ncol=4)
    fig.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=110)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m benchmarks.scaling")
    p.add_argument("--sf", type=float, nargs="+", default=[0.1, 1.0, 10.0])
    day_pair_arguments(p)
    p.add_argument("--plot", type=Path, default=PROJECT_ROOT / "bench-results" / "scaling.png")
    p.add_argument("--replot", action="store_true", help="table and plot of the last bench-results/scaling.json")
    p.add_argument("--update", action="store_true", help="re-measure --sf only, keep the other scale factors' runs")
    args = p.parse_args(argv)
    saved = PROJECT_ROOT / "bench-results" / "scaling.json"
    if args.replot:
        runs = json.loads(saved.read_text())["runs"]
        sys.stdout.write(table(runs) + "\n")
        plot(runs, args.plot)
        return 0
    kept = [r for r in json.loads(saved.read_text())["runs"] if r["sf"] not in args.sf] if args.update else []
    runs = []
    for sf in args.sf:
        runs.append(measure_day_pair(sf, args.full_date, args.day, args.rate))
        save("scaling", {"runs": sorted([*kept, *runs], key=lambda r: r["sf"])})
        if runs[-1]["rc_full"] or runs[-1]["rc_incremental"]:
            break  # a larger scale would not get further
    runs = sorted([*kept, *runs], key=lambda r: r["sf"])
    sys.stdout.write(table(runs) + "\n")
    plot(runs, args.plot)
    return 0 if all(r["rc_full"] == r["rc_incremental"] == 0 for r in runs) else 1


if __name__ == "__main__":
    sys.exit(main())
