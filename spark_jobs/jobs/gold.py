"""gold: one model = Spark SQL over named silver inputs -> Delta ``<gold_schema>.<model>``.

Each input is exposed as a temporary view of its name; ``dq_results`` is the silver DQ results
of this run. A one-row view ``run_context`` (``logical_date``, ``run_id``, ``dag_id``) gives the
SQL the run's context (plain SQL: no parameter markers, the same on every backend). The model is
recomputed in full and written with one overwrite commit, so a rerun gives the same table.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from spark_jobs.lib.context import RunContext, job_parser
from spark_jobs.lib.errors import MissingStepResultError
from spark_jobs.lib.layer_step import run_layer_step
from spark_jobs.lib.session import get_spark
from spark_jobs.lib.steps import Metrics, start_job
from spark_jobs.lib.storage import local_path
from spark_jobs.lib.tables import TableRef, dq_results_table, gold_table, silver_table


def parse(argv: list[str]) -> argparse.Namespace:
    p = job_parser("gold")
    p.add_argument("--sql-file", required=True)
    p.add_argument("--inputs", required=True, help="comma-separated silver tables (and control tables) read")
    p.add_argument("--partition-by", default="")
    p.add_argument("--audit-table", default="bz_audit_log")
    return p.parse_args(argv)


def _input_frame(spark: SparkSession, ctx: RunContext, name: str) -> DataFrame:
    ref: TableRef = (
        dq_results_table(ctx.tables, ctx.silver_schema)
        if name == "dq_results"
        else silver_table(ctx.tables, ctx.silver_schema, name)
    )
    if not ref.exists():
        raise MissingStepResultError(f"gold input {ref.schema}.{ref.name} does not exist")
    frame = ref.read(spark)
    return frame.where(F.col("run_id") == ctx.run_id) if name == "dq_results" else frame


def build_model(spark: SparkSession, ctx: RunContext, sql: str, inputs: list[str]) -> DataFrame:
    """Register the inputs as views and run the model's SQL (pure apart from the reads)."""
    for name in inputs:
        _input_frame(spark, ctx, name).createOrReplaceTempView(name)
    run_context = spark.createDataFrame(
        [(ctx.logical_date, ctx.run_id, ctx.dag_id)], "logical_date date, run_id string, dag_id string"
    )
    run_context.createOrReplaceTempView("run_context")
    return spark.sql(sql)


def main(argv: list[str]) -> int:
    args = parse(argv)
    ctx, log = start_job(args, "gold")
    inputs = [i for i in args.inputs.split(",") if i]

    def body() -> Metrics:
        spark = get_spark(f"gold-{ctx.table}")
        sql = Path(local_path(args.sql_file)).read_text()
        model = build_model(spark, ctx, sql, inputs)
        target = gold_table(ctx.tables, ctx.gold_schema, ctx.table)
        writer = model.write.mode("overwrite").option("overwriteSchema", "true")
        partition_by = [c for c in args.partition_by.split(",") if c]
        if partition_by:
            writer = writer.partitionBy(*partition_by)
        target.save(writer)
        rows = target.read(spark).count()
        return {"rows_read": None, "rows_written": rows, "table_rows": rows,
                "gold_version": target.latest_version(spark), "target": target.path}  # fmt: skip

    return run_layer_step(
        ctx, layer="gold", body=body, log=log, audit_name=args.audit_table,
        source=",".join(f"{ctx.silver_schema}.{i}" for i in inputs), target=f"{ctx.gold_schema}.{ctx.table}",
    )  # fmt: skip
