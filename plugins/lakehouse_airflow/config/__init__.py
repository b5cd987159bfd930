"""Typed, validated configuration: pipeline files (``pipeline``, with the silver/gold/maintenance
sections in ``layers`` and the monitor/alert sections in ``monitor``) and deployment environments
(``environments``). A broken file raises :class:`PipelineConfigError` naming the file and field."""

from lakehouse_airflow.config.base import PipelineConfigError
from lakehouse_airflow.config.pipeline import (
    PipelineConfig,
    TableConfig,
    load_pipeline,
    load_pipelines,
    with_absolute_sql_paths,
)

__all__ = [
    "PipelineConfig",
    "PipelineConfigError",
    "TableConfig",
    "load_pipeline",
    "load_pipelines",
    "with_absolute_sql_paths",
]
