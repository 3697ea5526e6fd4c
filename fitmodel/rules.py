"""Alert rule conditions: one SQL boolean expression over fit-health columns (SPEC §7).

A condition is parsed by polars' SQL expression parser into a polars expression, never
spliced into a query: a second statement, a subquery, a table function or a file, network or
extension access is not an expression over the columns and is refused when the configuration
loads, naming the rule. Evaluation is a polars expression over the rows, which reaches
nothing but the columns it names.
"""

from __future__ import annotations

import re

import polars as pl

NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
"""A rule name: an identifier (it is a column name and part of alert ids)."""


class RuleError(ValueError):
    """A rule that is not a boolean expression over the fit-health columns."""


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__


def compile_rule(name: str, sql: str, schema: pl.Schema) -> pl.Expr:
    """The condition of rule `name` as a polars expression over `schema`'s columns; raise
    `RuleError` naming the rule unless it is one boolean expression over those columns."""
    if not NAME.match(name):
        raise RuleError(
            f"alert rule {name[:80]!r}: a rule name is an identifier (letters, digits and _, "
            "not starting with a digit, at most 64 characters)"
        )
    if not sql.strip():
        raise RuleError(f"alert rule {name!r}: the condition is empty")
    try:
        expr = pl.sql_expr(sql)
    except Exception as exc:  # polars raises several kinds for text it cannot parse
        raise RuleError(f"alert rule {name!r}: not a SQL expression: {_first_line(exc)}") from None
    unknown = sorted(set(expr.meta.root_names()) - set(schema))
    if unknown:
        raise RuleError(
            f"alert rule {name!r}: {', '.join(repr(u) for u in unknown)} is not a fit_health "
            "column (a rule is one expression over the columns of one row)"
        )
    try:
        dtype = pl.LazyFrame(schema=schema).select(expr.alias("holds")).collect_schema()["holds"]
    except Exception as exc:
        raise RuleError(f"alert rule {name!r}: {_first_line(exc)}") from None
    if dtype != pl.Boolean:
        raise RuleError(f"alert rule {name!r}: is {dtype}, not a boolean condition")
    return expr


def holds(expr: pl.Expr) -> pl.Expr:
    """Whether the condition holds on a row: a null condition does not hold."""
    return expr.fill_null(False)
