"""Data-quality expectations (DLT vocabulary) evaluated as columns, counted in one pass."""

from __future__ import annotations

from dataclasses import dataclass
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from lakehouse_contract.specs import Rule
from spark_jobs.runtime.errors import ExpectationFailedError

FAILED_RULES = "_dq_failed_rules"
QUARANTINE_RULES = "_dq_quarantine_rules"
_DROP = "_dq_drop"


def _flag(rule: Rule) -> str:
    return f"__dq_{rule.name}"


def _fk_key(rule: Rule) -> str:
    return f"__fk_{rule.name}"


def with_rule_flags(df: DataFrame, rules: tuple[Rule, ...], parents: dict[str, DataFrame]) -> DataFrame:
    """One boolean column per rule: TRUE when the row fails it (an expression that is NULL passes).

    Foreign-key rules look the column up in the parent's keys (``parents[rule.name]``, one column);
    a NULL foreign key passes (``required`` catches it).
    """
    out = df
    for rule in rules:
        if rule.fk_column and rule.fk_parent_key:
            keys = parents[rule.name].select(F.col(rule.fk_parent_key).alias(_fk_key(rule))).distinct()
            out = out.join(keys, out[rule.fk_column] == keys[_fk_key(rule)], how="left")
            failed: Column = out[rule.fk_column].isNotNull() & F.col(_fk_key(rule)).isNull()
            out = out.withColumn(_flag(rule), failed).drop(_fk_key(rule))
        else:
            out = out.withColumn(_flag(rule), F.coalesce(~F.expr(str(rule.expr)), F.lit(False)))
    return out


def _names_where(rules: list[Rule]) -> Column:
    if not rules:
        return F.array().cast("array<string>")
    flagged = F.array(*[F.when(F.col(_flag(r)), F.lit(r.name)) for r in rules])
    return F.filter(flagged, lambda x: x.isNotNull())


def with_outcome(df: DataFrame, rules: tuple[Rule, ...]) -> DataFrame:
    """Replace the per-rule flags by: all failed rule names, the quarantining ones, and a drop flag."""
    quarantine = [r for r in rules if r.action == "expect_or_quarantine"]
    drop = [r for r in rules if r.action == "expect_or_drop"]
    out = df.withColumn(FAILED_RULES, _names_where(list(rules)))
    out = out.withColumn(QUARANTINE_RULES, _names_where(quarantine))
    out = out.withColumn(_DROP, _any(drop))
    return out.drop(*[_flag(r) for r in rules])


@dataclass(frozen=True)
class DqCounts:
    total: int
    failed_any: int
    per_rule: dict[str, int]
    quarantined: int = 0
    dropped: int = 0  # dropped and not quarantined (quarantine wins)
    quarantined_keyless: int = 0  # quarantined rows with a NULL in the key (counted when keys are given)

    @property
    def kept(self) -> int:
        return self.total - self.quarantined - self.dropped

    @property
    def score(self) -> float | None:
        """Share of rows that pass every rule (warnings included); None for an empty batch."""
        return None if self.total == 0 else round(1 - self.failed_any / self.total, 6)


def _any(rules: list[Rule]) -> Column:
    return F.greatest(*[F.col(_flag(r)) for r in rules], F.lit(False)) if rules else F.lit(False)


def count_failures(flagged: DataFrame, rules: tuple[Rule, ...], keys: tuple[str, ...] = ()) -> DqCounts:
    """Per-rule failure counts, rows failing any rule, quarantined, dropped and total -- and, given
    the ``keys``, the quarantined rows with a NULL in one of them: one aggregation."""
    quarantined = _any([r for r in rules if r.action == "expect_or_quarantine"])
    dropped = _any([r for r in rules if r.action == "expect_or_drop"]) & ~quarantined
    keyless = reduce(lambda a, b: a | b, [F.col(k).isNull() for k in keys], F.lit(False)) & quarantined
    aggs = [
        F.count(F.lit(1)).alias("__total"),
        F.sum(_any(list(rules)).cast("long")).alias("__any"),
        F.sum(quarantined.cast("long")).alias("__quarantined"),
        F.sum(dropped.cast("long")).alias("__dropped"),
        F.sum(keyless.cast("long")).alias("__keyless"),
    ]
    aggs += [F.sum(F.col(_flag(r)).cast("long")).alias(r.name) for r in rules]
    row = flagged.agg(*aggs).first()
    if row is None:
        raise RuntimeError("aggregation returned no row")
    return DqCounts(
        total=int(row["__total"]),
        failed_any=int(row["__any"] or 0),
        per_rule={r.name: int(row[r.name] or 0) for r in rules},
        quarantined=int(row["__quarantined"] or 0),
        dropped=int(row["__dropped"] or 0),
        quarantined_keyless=int(row["__keyless"] or 0),
    )


def check_fail_rules(counts: DqCounts, rules: tuple[Rule, ...]) -> None:
    """Raise when an ``expect_or_fail`` rule has failures (the caller writes nothing to silver)."""
    broken = {
        r.name: counts.per_rule[r.name] for r in rules if r.action == "expect_or_fail" and counts.per_rule[r.name]
    }
    if broken:
        detail = ", ".join(f"{name} ({n} rows)" for name, n in broken.items())
        raise ExpectationFailedError(f"expect_or_fail violated: {detail}; silver left unchanged")


def split(outcome: DataFrame) -> tuple[DataFrame, DataFrame]:
    """(rows for silver, rows for quarantine); dropped rows go nowhere (they are only counted)."""
    quarantined = F.size(F.col(QUARANTINE_RULES)) > 0
    keep = outcome.where(~quarantined & ~F.col(_DROP))
    quarantine = outcome.where(quarantined)
    return keep.drop(_DROP, QUARANTINE_RULES), quarantine.drop(_DROP, QUARANTINE_RULES)
