"""gold: one model = Spark SQL over named silver inputs -> Delta ``<gold_schema>.<model>``.

Each input is exposed as a temporary view of its name; a control input (the DQ results) holds
this run's rows only. A one-row view ``run_context`` (``logical_date``, ``run_id``, ``dag_id``) gives the
SQL the run's context (plain SQL: no parameter markers, the same on every backend). The model is
recomputed in full and written with one overwrite commit, so a rerun gives the same table.
"""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from lakehouse_contract import naming
from lakehouse_contract.results import LayerOutcome
from lakehouse_contract.specs import GoldSpec
from spark_jobs.runtime.context import RunContext
from spark_jobs.runtime.errors import MissingStepResultError
from spark_jobs.runtime.layer_step import run_layer_step
from spark_jobs.runtime.session import get_spark
from spark_jobs.runtime.steps import start_job
from spark_jobs.storage.paths import local_path
from spark_jobs.storage.tables import gold_input_table, gold_table


def _input_frame(spark: SparkSession, ctx: RunContext, name: str) -> DataFrame:
    ref = gold_input_table(ctx.tables, ctx.silver_schema, name)
    if not ref.exists():
        raise MissingStepResultError(f"gold input {ref.schema}.{ref.name} does not exist")
    frame = ref.read(spark)
    return frame.where(F.col("run_id") == ctx.run_id) if name in naming.CONTROL_INPUTS else frame


def build_model(spark: SparkSession, ctx: RunContext, sql: str, inputs: tuple[str, ...] | list[str]) -> DataFrame:
    """Register the inputs as views and run the model's SQL (pure apart from the reads)."""
    for name in inputs:
        _input_frame(spark, ctx, name).createOrReplaceTempView(name)
    run_context = spark.createDataFrame(
        [(ctx.logical_date, ctx.run_id, ctx.dag_id)], "logical_date date, run_id string, dag_id string"
    )
    run_context.createOrReplaceTempView("run_context")
    return spark.sql(sql)


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, GoldSpec)

    def body() -> LayerOutcome:
        spark = get_spark(f"gold-{ctx.table}")
        sql = Path(local_path(spec.sql_file)).read_text()
        model = build_model(spark, ctx, sql, spec.inputs)
        target = gold_table(ctx.tables, ctx.gold_schema, ctx.table)
        writer = model.write.mode("overwrite").option("overwriteSchema", "true")
        if spec.partition_by:
            writer = writer.partitionBy(*spec.partition_by)
        target.save(writer)
        rows = target.read(spark).count()
        return LayerOutcome(rows_read=None, rows_written=rows, table_rows=rows,
                            gold_version=target.latest_version(spark), target=target.path)  # fmt: skip

    return run_layer_step(
        ctx, layer="gold", body=body, log=log, audit_name=spec.audit_table,
        source=",".join(str(naming.gold_input(ctx.schemas, i)) for i in spec.inputs),
        target=str(naming.gold(ctx.schemas, ctx.table)),
    )  # fmt: skip
