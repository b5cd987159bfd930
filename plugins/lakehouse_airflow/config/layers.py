"""Config models for the silver and gold layers and table maintenance (part of a pipeline file).

Expectations use the vocabulary of Databricks DLT / dlt-meta: each action maps rule names to
Spark SQL boolean expressions. A row fails a rule only when the expression is FALSE (SQL CHECK
semantics: NULL passes), so "not null" is always an explicit rule (see ``required``).
"""

from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from lakehouse_airflow.config.base import Strict
from lakehouse_contract.naming import CONTRACT_TYPE, IDENTIFIER

ACTIONS = ("expect", "expect_or_drop", "expect_or_quarantine", "expect_or_fail")
Action = Literal["expect", "expect_or_drop", "expect_or_quarantine", "expect_or_fail"]
MaskKind = Literal["name", "email", "phone", "full"]


def _check_rules(rules: dict[str, str]) -> dict[str, str]:
    for name, expr in rules.items():
        if not re.match(IDENTIFIER, name):
            raise ValueError(f"rule name {name!r} is not a lower-case identifier")
        if not str(expr).strip():
            raise ValueError(f"rule {name!r} has an empty expression")
    return rules


class ForeignKey(Strict):
    parent: str = Field(pattern=IDENTIFIER)
    action: Action = "expect_or_quarantine"


class DerivedColumn(Strict):
    """A silver column computed from the row: a Spark SQL expression over the table's columns (and
    the derived columns declared before it), cast to ``type``."""

    expr: str = Field(min_length=1)
    type: str = Field(pattern=CONTRACT_TYPE)


class SilverConfig(Strict):
    """How a bronze table becomes its silver table (contract, cleaning, expectations)."""

    enabled: bool = True
    required: tuple[str, ...] = ()  # NOT NULL in the contract; generates <col>_not_null quarantine rules
    lowercase: tuple[str, ...] = ()  # meaning-free case, normalised (e-mails)
    hashed_id: str | None = Field(default=None, pattern=IDENTIFIER)  # keyed hash of the primary key
    expect: dict[str, str] = {}
    expect_or_drop: dict[str, str] = {}
    expect_or_quarantine: dict[str, str] = {}
    expect_or_fail: dict[str, str] = {}
    foreign_keys: dict[str, ForeignKey] = {}  # column -> parent table, or {parent, action}
    derive: dict[str, DerivedColumn] = {}  # column -> {expr, type}, in order; rules may use them
    partition_by: tuple[str, ...] = ()  # silver table partition columns (set when the table is created)
    # scd2: also keep every version of a row in <silver>.<table>_history (_valid_from, _valid_to,
    # _is_current), rebuilt per key from bronze's versions (incremental and cdc tables)
    history: Literal["none", "scd2"] = "none"

    @field_validator(*ACTIONS)
    @classmethod
    def _rules(cls, rules: dict[str, str]) -> dict[str, str]:
        return _check_rules(rules)

    @field_validator("foreign_keys", mode="before")
    @classmethod
    def _fk_shorthand(cls, fks: object) -> object:
        """``{column: parent}`` is short for ``{column: {parent: parent}}``."""
        if isinstance(fks, dict):
            return {col: {"parent": p} if isinstance(p, str) else p for col, p in fks.items()}
        return fks

    @model_validator(mode="after")
    def _unique_rule_names(self) -> SilverConfig:
        seen: dict[str, str] = {}
        for action, name in self.rule_names():
            if name in seen:
                raise ValueError(f"rule {name!r} is declared under both {seen[name]} and {action}")
            seen[name] = action
        return self

    def rule_names(self) -> list[tuple[str, str]]:
        """(action, name) of the explicitly declared rules."""
        return [(action, name) for action in ACTIONS for name in getattr(self, action)]


class GoldModel(Strict):
    """A gold model: Spark SQL over named silver inputs (each input is a view of that name)."""

    sql_file: str = Field(min_length=1)  # relative to the pipeline file's folder
    inputs: tuple[str, ...] = Field(min_length=1)
    description: str = ""
    partition_by: tuple[str, ...] = ()


class GoldConfig(Strict):
    models: dict[str, GoldModel] = {}

    @field_validator("models")
    @classmethod
    def _names(cls, models: dict[str, GoldModel]) -> dict[str, GoldModel]:
        bad = [m for m in models if not re.match(IDENTIFIER, m)]
        if bad:
            raise ValueError(f"model names must be lower-case identifiers: {bad}")
        return models


class MaintenanceConfig(Strict):
    """The weekly Delta maintenance DAG (``<dag_id>_maintenance``): OPTIMIZE, Z-ORDER, VACUUM."""

    enabled: bool = True
    schedule: str = Field(default="0 3 * * 0", min_length=1)  # cron in the pipeline's timezone
    # VACUUM keeps this much history for time travel; below 7 days (168 h) is refused
    retention_hours: int = Field(default=168, ge=168)


class CdcConfig(Strict):
    """The ``<dag_id>_cdc`` DAG of the pipeline's ``cadence: cdc`` tables (bronze and silver), and
    how long the main DAG waits for their silver tables to cover its interval before its gold runs."""

    schedule: str = Field(default="*/15 * * * *", min_length=1)  # cron in the pipeline's timezone
    wait_minutes: int = Field(default=60, ge=1, le=24 * 60)
    # every CDC run ends by checking each slot: lost, missing or holding back more WAL than this
    # fails the check (and so alerts): the source's disk fills while a slot is not confirmed
    max_retained_mb: int = Field(default=1024, ge=0)
    # ... and so does a table whose bronze no CDC run has confirmed for longer than this (the
    # newest change bronze may miss is that old); null: no limit
    max_lag_minutes: int | None = Field(default=60, ge=1)


class HourlyConfig(Strict):
    """The ``<dag_id>_hourly`` DAG of the pipeline's ``cadence: hourly`` tables (their bronze: an
    hourly slice each run), and how long the main DAG's silver waits for their bronze to cover its
    interval."""

    schedule: str = Field(default="0 * * * *", min_length=1)  # cron in the pipeline's timezone
    wait_minutes: int = Field(default=60, ge=1, le=24 * 60)


class DrConfig(Strict):
    """Disaster recovery (``<dag_id>_dr``): a restore point of every table, replicated to a second
    bucket or prefix and verified. Without a replica root (here or ``$LAKEHOUSE_REPLICA_ROOT``)
    there is no DR DAG; the CLI (``python -m lakehouse_airflow.dr``) takes ``--replica``."""

    replica_root: str | None = None  # s3a://bucket/prefix or a directory
    schedule: str = Field(default="30 4 * * *", min_length=1)  # cron in the pipeline's timezone


class PrivacyConfig(Strict):
    """Where the PII hashing key lives: the password of an Airflow connection (never a config value)."""

    key_conn_id: str = Field(default="pii_hash_key", min_length=1)
