"""Expectation expressions checked at config load, with sqlglot's Spark SQL grammar.

A rule is a single row-level boolean expression over the table's own columns: one expression (no
``;``), no sub-query, no aggregate or window function, no qualified or unknown column, and not an
expression that is obviously not a boolean (a bare column, a literal, arithmetic, a cast to another
type). Functions sqlglot does not know are accepted (Spark has many); Spark still analyses the
expression at run time, and the silver job names the rule if it fails there.
"""

from __future__ import annotations

from collections.abc import Collection

import sqlglot
from sqlglot import exp
from sqlglot.errors import SqlglotError

_NOT_ROW_LEVEL: tuple[tuple[type, str], ...] = (
    (exp.Query, "a sub-query"),
    (exp.Subquery, "a sub-query"),
    (exp.AggFunc, "an aggregate function"),
    (exp.Window, "a window function"),
    (exp.Star, "*"),
    (exp.Placeholder, "a parameter placeholder"),
    (exp.Parameter, "a parameter"),
)


class ExpressionError(ValueError):
    """An expectation expression that is not a single boolean expression over the table's columns."""


def _not_boolean(node: exp.Expr) -> str | None:
    """Why the top of the expression cannot be a boolean, if it obviously cannot."""
    while isinstance(node, exp.Paren):
        node = node.this
    if isinstance(node, (exp.Cast, exp.TryCast)):
        return None if node.to.is_type(exp.DataType.Type.BOOLEAN) else f"a cast to {node.to.sql(dialect='spark')}"
    if isinstance(node, (exp.Predicate, exp.Connector, exp.Not, exp.Boolean, exp.Case, exp.If, exp.Func)):
        return None  # conditions, and functions that may return a boolean (Spark checks the type)
    if isinstance(node, exp.Column):
        return f"a bare column ({node.sql(dialect='spark')})"
    if isinstance(node, (exp.Literal, exp.Null)):
        return f"a literal ({node.sql(dialect='spark')})"
    if isinstance(node, (exp.Binary, exp.Neg, exp.Interval)):
        return f"an arithmetic or string expression ({type(node).__name__}), not a condition"
    return f"a {type(node).__name__.upper()} statement or clause, not an expression"


def check_expression(expr: str, columns: Collection[str], *, boolean: bool = True) -> None:
    """Raise ExpressionError unless ``expr`` is one row-level (``boolean``: boolean) expression over ``columns``."""
    try:
        parsed = [p for p in sqlglot.parse(expr, read="spark") if p is not None]
    except SqlglotError as exc:
        first = str(exc).splitlines()[0]
        raise ExpressionError(f"is not valid Spark SQL: {first}") from None
    if len(parsed) != 1:
        raise ExpressionError(f"must be one expression, found {len(parsed)} statements")
    (tree,) = parsed
    comments = [c for node in tree.walk() for c in node.comments or ()]
    if comments:
        raise ExpressionError(f"must not contain SQL comments ({comments[0].strip()!r})")
    for kind, label in _NOT_ROW_LEVEL:
        found = tree.find(kind)
        if found is not None:
            raise ExpressionError(f"is not row-level: it uses {label} ({found.sql(dialect='spark')})")
    qualified = sorted({c.sql(dialect="spark") for c in tree.find_all(exp.Column) if c.table})
    if qualified:
        raise ExpressionError(f"refers to qualified columns {qualified}; use the table's own column names")
    unknown = sorted({c.name for c in tree.find_all(exp.Column)} - set(columns))
    if unknown:
        raise ExpressionError(f"refers to unknown columns {unknown} (the table's columns: {sorted(columns)})")
    reason = _not_boolean(tree) if boolean else None
    if reason:
        raise ExpressionError(f"is not a boolean condition: it is {reason}")
