"""gold: one model = Spark SQL over named silver inputs -> Delta ``<gold_schema>.<model>``.

Each input is exposed as a temporary view of its name; a control input (the DQ results) holds
this run's rows only. A one-row view ``run_context`` (``logical_date``, ``run_id``, ``dag_id``) gives the
SQL the run's context (plain SQL: no parameter markers, the same on every backend). The model is
recomputed in full and written with one overwrite commit, so a rerun gives the same table.

That commit carries a mark of what the model was computed from (storage/commit_marks.py): the data
version of each input, the SQL, the partitioning and this module's code. A later run whose inputs
give the same mark keeps the table (no read, no commit): a quiet window costs gold nothing. A
model that reads per-run values -- a control input, the ``run_context`` view, the clock or random
numbers -- is recomputed every run, as is every model under ``params.mode=full``.
"""

from __future__ import annotations

import logging
import re
import sys
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
from spark_jobs.storage import commit_marks
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


# what makes a model's result depend on the run rather than on its inputs alone
PER_RUN_SQL = re.compile(
    r"\b(run_context|current_date|current_timestamp|current_timezone|localtimestamp|now|unix_timestamp"
    r"|rand|randn|random|uuid|shuffle)\b",
    re.IGNORECASE,
)


def inputs_mark(spark: SparkSession, ctx: RunContext, spec: GoldSpec, sql: str) -> dict[str, str] | None:
    """The mark of what the model reads (its inputs' newest data commits), its SQL, partitioning and
    code; None for a model that is recomputed every run (per-run inputs or SQL)."""
    if any(i in naming.CONTROL_INPUTS for i in spec.inputs) or PER_RUN_SQL.search(sql):
        return None
    tables = {f"input:{i}": gold_input_table(ctx.tables, ctx.silver_schema, i) for i in spec.inputs}
    return commit_marks.inputs_mark(
        spark, tables, ctx.run_id, code=commit_marks.code_digest(sys.modules[__name__]),
        sql=commit_marks.digest({"sql": sql}), partition_by=",".join(spec.partition_by),
    )  # fmt: skip


def main(argv: list[str]) -> int:
    ctx, spec, log = start_job(argv, GoldSpec)

    def body() -> LayerOutcome:
        spark = get_spark(f"gold-{ctx.table}")
        sql = Path(local_path(spec.sql_file)).read_text()
        target = gold_table(ctx.tables, ctx.gold_schema, ctx.table)
        mark = inputs_mark(spark, ctx, spec, sql)
        kept = commit_marks.built_by(spark, target, mark) if ctx.mode != "full" else None
        if kept is not None:
            logging.getLogger("spark_jobs").info("%s: inputs unchanged since run %s: gold kept", ctx.table, kept)
            rows = target.read(spark).count()
            return LayerOutcome(rows_read=0, rows_written=0, table_rows=rows, target=target.path,
                                gold_version=target.latest_version(spark), load_mode="unchanged",
                                unchanged_since=kept)  # fmt: skip
        model = build_model(spark, ctx, sql, spec.inputs)
        writer = model.write.mode("overwrite").option("overwriteSchema", "true")
        if mark is not None:
            writer = writer.option(commit_marks.USER_METADATA, commit_marks.mark_text(mark))
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
