"""Where a pipeline's data comes from: a database over JDBC (``source.kind: jdbc``, the default) or
files dropped in a folder or bucket prefix (``source.kind: files``, with a ``files:`` block per table).
Part of a pipeline file (``lakehouse_airflow.config.pipeline``)."""

from __future__ import annotations

import re
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, field_validator, model_validator

from lakehouse_airflow.config.base import Strict
from lakehouse_contract.naming import IDENTIFIER


def known_zone(value: str) -> str:
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {value!r}") from None
    return value


class SourceConfig(Strict):
    """A database read over JDBC (``kind: jdbc``, the default)."""

    kind: Literal["jdbc"] = "jdbc"
    conn_id: str = Field(min_length=1)
    database: str = Field(min_length=1)
    schema_name: str = Field(alias="schema", pattern=IDENTIFIER)
    system: str = Field(min_length=1)
    # zone of the source's naive timestamps (watermark windows are converted into it); None: the DAG's timezone
    timezone: str | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return value if value is None else known_zone(value)


class FileSourceConfig(Strict):
    """Files dropped in a folder or an object-store prefix (``kind: files``); each table reads its own
    sub-folder (``tables.<name>.files``)."""

    kind: Literal["files"]
    system: str = Field(min_length=1)
    # a folder or s3a://bucket/prefix; unset: $LAKEHOUSE_FILES_ROOT/<system>, else .local/files/<system>
    root: str | None = None
    timezone: str | None = None  # zone a file's modification time is dated in (files without a date in the path)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str | None) -> str | None:
        return value if value is None else known_zone(value)


FileFormat = Literal["parquet", "csv", "json"]
DEFAULT_GLOBS = {"parquet": "*.parquet", "csv": "*.csv", "json": "*.json*"}


class FileTableConfig(Strict):
    """Where a file table's files are and how to read them."""

    format: FileFormat
    path: str | None = None  # below the source root; unset: the table's ``source`` name
    glob: str | None = None  # file names to load (any depth); unset: *.parquet, *.csv, *.json*
    options: dict[str, str] = {}  # Spark reader options (csv: header, sep, quote, ...)
    date_pattern: str = r"(\d{4}-\d{2}-\d{2})"  # the file's date in its path; else its modification time's
    on_modified: Literal["reload", "ignore"] = "reload"  # a loaded file rewritten in place
    on_bad_file: Literal["fail", "skip"] = "fail"  # unreadable, or a contract column missing or retyped

    @field_validator("date_pattern")
    @classmethod
    def _pattern(cls, value: str) -> str:
        try:
            re.compile(value)
        except re.error as exc:
            raise ValueError(f"date_pattern is not a regular expression: {exc}") from None
        return value

    @model_validator(mode="after")
    def _csv_header(self) -> FileTableConfig:
        if self.format == "csv" and self.options.get("header", "true").lower() != "true":
            raise ValueError("csv files need a header line (options.header: 'true'): columns are matched by name")
        return self

    def file_glob(self) -> str:
        return self.glob or DEFAULT_GLOBS[self.format]

    def reader_options(self) -> dict[str, str]:
        return {"header": "true", **self.options} if self.format == "csv" else dict(self.options)


FILE_WATERMARK = "_file_modification_time"  # file tables: newest file version of a key wins in silver
