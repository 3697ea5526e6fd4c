"""Alert rules and their episodes (SPEC §7), as a projection of fit-health history.

A rule's condition is a SQL boolean expression over fit_health columns (`fitmodel.rules`),
evaluated as a polars expression. With `for_days: N` a rule holds at (p, d) only when its
condition holds on each of the rows (p, d − N + 1) … (p, d). An episode is a run of
consecutive days on which a rule holds for a partnership: it opens on the first such day and
resolves on the first day it no longer holds (a null condition does not hold); one still
holding on the partnership's last row stays open. Its `alert_id` is
`<partnership>:<rule>:<opened_on>`, the same however often the history is projected.

Rows are one per partnership per day without gaps, so consecutive days are consecutive rows:
a run of days on which the condition holds, [s, e], makes the rule hold on [s + N − 1, e].
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date, timedelta
from typing import Protocol

import polars as pl

from fitmodel.columns import COMPONENTS, fit_health_schema
from fitmodel.events import CORNERS, DIMENSIONS
from fitmodel.rules import RuleError, compile_rule, holds

P, DAY = "partnership_id", "as_of"

ALERT_SCHEMA = pl.Schema(
    {
        "alert_id": pl.String(),
        "partnership_id": pl.String(),
        "rule": pl.String(),
        "severity": pl.String(),
        "opened_on": pl.Date(),
        "resolved_on": pl.Date(),
        "last_seen_on": pl.Date(),
        "status": pl.String(),
        "owner": pl.String(),
        "name": pl.String(),
        "explanation": pl.String(),
    }
)


class Rule(Protocol):
    """What a rule needs (`fitmodel.config.AlertRule` is one)."""

    when: str
    severity: str
    for_days: int


Rules = Mapping[str, Rule]

CONTEXT_COLUMNS = [
    "owner",
    "name",
    "fit_score",
    "band",
    "score_change_30d",
    "top_negative_driver",
    "ps_escalation_ratio_90d",
    "weakest_corner",
    *CORNERS,
    "days_since_last_event",
    "last_gate_on",
    "last_gate_outcome",
    "days_since_last_gate",
    *DIMENSIONS,
    "score_change_by_component",
]

_TEMPLATES = (
    ("change", {"score_change_30d"}),
    ("gate", {"last_gate_outcome", "days_since_last_gate", "last_gate_on"}),
    ("diagnostic", {"diagnostic_below_7", *DIMENSIONS}),
    ("score", {"fit_score", "band"}),
    ("ratio", {"ps_escalation_ratio_90d", "ratio_below_3", "problem_solving_90d"}),
    ("corner", {"corner_below_7", "weakest_corner", *CORNERS}),
    ("quiet", {"days_since_last_event"}),
)
"""Which one-line explanation a rule gets: the first whose columns its condition reads."""


def _template(expr: pl.Expr) -> str:
    names = set(expr.meta.root_names())
    return next((key for key, columns in _TEMPLATES if names & columns), "other")


def _compiled(rules: Rules) -> dict[str, pl.Expr]:
    schema = fit_health_schema()
    return {name: compile_rule(name, rule.when, schema) for name, rule in rules.items()}


def condition_days(frame: pl.DataFrame, rules: Rules) -> pl.DataFrame:
    """(partnership, day, rule) for every row on which a rule's condition holds."""
    parts = []
    for name, expr in _compiled(rules).items():
        try:
            parts.append(frame.filter(holds(expr)).select(P, DAY, pl.lit(name).alias("rule")))
        except pl.exceptions.PolarsError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise RuleError(f"alert rule {name!r} failed on the fit_health rows: {first}") from None
    schema = {P: pl.String(), DAY: pl.Date(), "rule": pl.String()}
    return pl.concat(parts) if parts else pl.DataFrame(schema=schema)


def _runs(days: pl.DataFrame) -> pl.DataFrame:
    """Runs of consecutive days per (partnership, rule): within a run, day minus rank is
    constant (gaps and islands)."""
    rank = pl.int_range(pl.len()).over(P, "rule").cast(pl.Int32)
    return (
        days.sort(P, "rule", DAY)
        .with_columns((pl.col(DAY).cast(pl.Int32) - rank).alias("_run"))
        .group_by(P, "rule", "_run")
        .agg(pl.col(DAY).min().alias("_first"), pl.col(DAY).max().alias("last_seen_on"))
        .drop("_run")
    )


def _spans(narrow: pl.DataFrame, rules: Rules, since: date | None) -> pl.DataFrame:
    """Runs of days on which each rule holds (its condition on `for_days` consecutive rows),
    from `since` on when given."""
    runs = _runs(condition_days(narrow, rules))
    hold = {name: rule.for_days for name, rule in rules.items()}
    opened = pl.col("_first") + pl.duration(
        days=pl.col("rule").replace_strict(hold, return_dtype=pl.Int64) - 1
    )
    if since is not None:
        opened = pl.max_horizontal(opened, pl.lit(since))
    spans = runs.with_columns(opened.alias("opened_on")).filter(
        pl.col("opened_on") <= pl.col("last_seen_on")
    )
    last_rows = narrow.group_by(P).agg(pl.col(DAY).max().alias("_last_row"))
    return spans.join(last_rows, on=P).select(
        P,
        "rule",
        "opened_on",
        "last_seen_on",
        pl.when(pl.col("last_seen_on") < pl.col("_last_row"))
        .then(pl.col("last_seen_on") + timedelta(days=1))
        .alias("resolved_on"),
    )


def _explain(trend_days: int, activity_days: int) -> pl.Expr:
    """One line: what holds, and the biggest driver of the trend where there is one
    (`_driver_change` is that driver's share of the change)."""
    change = pl.col("score_change_30d")
    then = pl.col("fit_score") - change
    driver = pl.col("top_negative_driver")
    template = pl.col("_template")
    by_rule = (
        pl.when((template == "change") & change.is_not_null())
        .then(
            pl.format(
                f"fit score {{}} {{}} in {trend_days} days ({{}} → {{}})",
                pl.when(change < 0).then(pl.lit("fell")).otherwise(pl.lit("rose")),
                change.abs().round(1),
                then.round(1),
                pl.col("fit_score").round(1),
            )
        )
        .when(template.is_in(["change", "score"]))
        .then(
            pl.format("fit score {} ({})", pl.col("fit_score").round(1), pl.col("band"))
            + pl.when(pl.col("_for_days") > 1)
            .then(pl.format(" for {} days or more", pl.col("_for_days")))
            .otherwise(pl.lit(""))
        )
        .when(template == "ratio")
        .then(
            pl.format(
                f"problem-solving to escalation ratio {{}} over {activity_days} days",
                pl.col("ps_escalation_ratio_90d").round(2),
            )
        )
        .when(template == "corner")
        .then(
            pl.format(
                "weakest corner {} at {}",
                pl.col("weakest_corner"),
                pl.min_horizontal(*CORNERS).round(1),
            )
        )
        .when(template == "quiet")
        .then(pl.format("no event for {} days", pl.col("days_since_last_event")))
        .when(template == "gate")
        .then(
            pl.format(
                "renewal gate of {} {} for {} days",
                pl.col("last_gate_on"),
                pl.col("last_gate_outcome"),
                pl.col("days_since_last_gate"),
            )
        )
        .when(template == "diagnostic")
        .then(
            pl.format(
                "weakest diagnostic dimension {} at {}",
                _weakest(DIMENSIONS),
                pl.min_horizontal(*DIMENSIONS).round(1),
            )
        )
        .otherwise(pl.format("rule {} holds", pl.col("rule")))
    )
    return (
        pl.when(driver.is_not_null())
        .then(
            pl.format(
                "{}; biggest driver: {} ({})", by_rule, driver, pl.col("_driver_change").round(1)
            )
        )
        .otherwise(by_rule)
    )


def _weakest(columns: tuple[str, ...]) -> pl.Expr:
    """The name of the lowest of `columns` (ties to the first)."""
    lowest = pl.min_horizontal(*columns)
    weakest = pl.when(lowest.is_null()).then(None)
    for c in columns:
        weakest = weakest.when(pl.col(c) == lowest).then(pl.lit(c))
    return weakest


def _alert_id() -> pl.Expr:
    return pl.concat_str(
        [pl.col(P), pl.col("rule"), pl.col("opened_on").dt.strftime("%Y-%m-%d")], separator=":"
    ).alias("alert_id")


def _needed(rules: Rules) -> list[str]:
    """The columns the rules read, beside the partnership and the day."""
    names = {n for expr in _compiled(rules).values() for n in expr.meta.root_names()}
    return [c for c in fit_health_schema() if c in names and c not in (P, DAY)]


def project(
    source: pl.DataFrame | pl.LazyFrame,
    rules: Rules,
    since: date | None = None,
    *,
    trend_days: int = 30,
    activity_days: int = 90,
) -> pl.DataFrame:
    """The alerts table (see the module docstring) from fit-health history, or, with `since`,
    the episodes as they stand from day `since` on (the days a rule holds from `since` on are
    right: the rows read reach back as far as the longest `for_days` needs)."""
    frame = source.lazy()
    if since is not None:
        reach = max((rule.for_days for rule in rules.values()), default=1) - 1
        frame = frame.filter(pl.col(DAY) >= since - timedelta(days=reach))
    narrow = frame.select(P, DAY, *_needed(rules)).collect()
    spans = _spans(narrow, rules, since)
    if spans.is_empty():
        return pl.DataFrame(schema=ALERT_SCHEMA)
    wanted = spans.select(P, pl.col("last_seen_on").alias(DAY)).unique()
    context = (
        frame.join(wanted.lazy(), on=[P, DAY], how="semi")
        .select(P, DAY, *CONTEXT_COLUMNS)
        .collect()
    )
    context = context.with_columns(pl.col("score_change_by_component").struct.unnest())
    driver_change = pl.coalesce(
        [pl.when(pl.col("top_negative_driver") == c).then(pl.col(c)) for c in COMPONENTS]
    )
    templates = {name: _template(expr) for name, expr in _compiled(rules).items()}
    severities = {name: rule.severity for name, rule in rules.items()}
    joined = spans.join(context, left_on=[P, "last_seen_on"], right_on=[P, DAY], how="left")
    return (
        joined.with_columns(
            driver_change.alias("_driver_change"),
            pl.col("rule").replace_strict(templates, return_dtype=pl.String).alias("_template"),
            pl.col("rule")
            .replace_strict({n: r.for_days for n, r in rules.items()}, return_dtype=pl.Int64)
            .alias("_for_days"),
        )
        .select(
            _alert_id(),
            P,
            "rule",
            pl.col("rule").replace_strict(severities, return_dtype=pl.String).alias("severity"),
            "opened_on",
            "resolved_on",
            "last_seen_on",
            pl.when(pl.col("resolved_on").is_null())
            .then(pl.lit("open"))
            .otherwise(pl.lit("resolved"))
            .alias("status"),
            "owner",
            "name",
            _explain(trend_days, activity_days).alias("explanation"),
        )
        .cast(dict(ALERT_SCHEMA))
        .sort(P, "rule", "opened_on")
    )


def holding_days(source: pl.DataFrame | pl.LazyFrame, rules: Rules) -> pl.DataFrame:
    """Every (partnership, day, rule) on which the rule holds (`for_days` applied)."""
    narrow = source.lazy().select(P, DAY, *_needed(rules)).collect()
    spans = _spans(narrow, rules, None)
    return (
        spans.select(P, "rule", pl.date_ranges("opened_on", "last_seen_on").alias(DAY))
        .explode(DAY)
        .select(P, DAY, "rule")
        .sort(P, DAY, "rule")
    )


def update(
    previous: pl.DataFrame,
    source: pl.DataFrame | pl.LazyFrame,
    rules: Rules,
    start: date,
    **texts: int,
) -> pl.DataFrame:
    """The alerts table after the fit-health days from `start` on were replaced, equal to
    `project` over the whole new history while reading only the days from
    `start - 1 - (longest for_days - 1)` on.

    Day `edge = start - 1` did not change, nor did the days before it, so neither did whether a
    rule held on it. An episode that ended before `edge` (last seen earlier) is final: its
    resolving day and its context row precede `start`. Every other episode is re-projected from
    `edge` on; one that holds on `edge` continues the previous episode holding there, whose
    `opened_on` (and so `alert_id`) it keeps. (Rows stop only at `ended_on` or `as_of`, and the
    registry is unchanged, or the refresh would be a rebuild.)
    """
    edge = start - timedelta(days=1)
    final = previous.filter(pl.col("last_seen_on") < edge)
    ongoing = previous.filter(
        (pl.col("opened_on") <= edge) & (pl.col("last_seen_on") >= edge)
    ).select(P, "rule", pl.col("opened_on").alias("_opened"))
    recent = project(source, rules, since=edge, **texts)
    stitched = (
        recent.join(ongoing, on=[P, "rule"], how="left")
        .with_columns(
            pl.when(pl.col("opened_on") == edge)
            .then(pl.coalesce("_opened", "opened_on"))
            .otherwise(pl.col("opened_on"))
            .alias("opened_on")
        )
        .with_columns(_alert_id())
        .drop("_opened")
    )
    return pl.concat([final, stitched]).sort(P, "rule", "opened_on")
