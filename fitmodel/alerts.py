"""Alert rules and their episodes (SPEC §7), as a projection of fit-health history.

A rule is a SQL boolean expression over fit_health columns, evaluated by DuckDB. An episode is
a run of consecutive days on which a rule holds for a partnership: it opens on the first such
day and resolves on the first day it no longer holds (a null condition does not hold); one
still holding on the partnership's last row stays open. Its `alert_id` is
`<partnership>:<rule>:<opened_on>`, the same however often the history is projected.
"""

from __future__ import annotations

from datetime import date, timedelta

import duckdb
import polars as pl

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


class RuleError(ValueError):
    """A rule DuckDB cannot evaluate as a boolean over fit_health."""


def check_rule(name: str, sql: str, schema: pl.Schema) -> None:
    """Raise `RuleError` naming the rule unless `sql` is a boolean expression over `schema`."""
    con = duckdb.connect()
    try:
        con.register("fit_health", pl.DataFrame(schema=schema).to_arrow())
        kind = con.sql(f"SELECT ({sql}) AS holds FROM fit_health").types[0]
    except duckdb.Error as exc:
        raise RuleError(f"alert rule {name!r}: {exc}") from None
    finally:
        con.close()
    if str(kind) != "BOOLEAN":
        raise RuleError(f"alert rule {name!r}: is {kind}, not a boolean condition")


def _connect(source, since: date | None = None) -> duckdb.DuckDBPyConnection:
    """DuckDB with `source` (a polars frame or an Arrow dataset) as `fit_health`, from day
    `since` on when given."""
    con = duckdb.connect()
    con.execute("SET threads TO 2")
    if isinstance(source, pl.DataFrame):
        source = source.to_arrow()
    if since is None:
        con.register("fit_health", source)
    else:
        con.register("fit_health_all", source)
        con.execute(
            f"CREATE VIEW fit_health AS SELECT * FROM fit_health_all "
            f"WHERE {DAY} >= DATE '{since.isoformat()}'"
        )
    return con


def _holding_sql(rules: dict[str, str]) -> str:
    """(partnership, day, rule) for every day a rule holds, in one scan that reads only the
    columns the rules name."""
    names = ", ".join(
        f"CASE WHEN coalesce(({sql}), false) THEN '{name}' END" for name, sql in rules.items()
    )
    return (
        f"SELECT {P}, {DAY}, unnest(list_filter([{names}], lambda r: r IS NOT NULL)) AS rule "
        "FROM fit_health"
    )


def holding_days(source, rules: dict[str, str]) -> pl.DataFrame:
    """Every (partnership, day, rule) on which the rule holds."""
    con = _connect(source)
    try:
        return pl.from_arrow(con.sql(_holding_sql(rules)).to_arrow_table())
    finally:
        con.close()


def _explain() -> pl.Expr:
    """One line: what holds, and the biggest driver of the 30-day change where there is one
    (`_driver_change` is that driver's share of the change)."""
    change = pl.col("score_change_30d")
    then = pl.col("fit_score") - change
    driver = pl.col("top_negative_driver")
    score_text = pl.format(
        "fit score fell {} in 30 days ({} → {})",
        (-change).round(1),
        then.round(1),
        pl.col("fit_score").round(1),
    )
    by_rule = (
        pl.when(pl.col("rule").is_in(["score_drop", "score_collapse"]) & change.is_not_null())
        .then(score_text)
        .when(pl.col("rule") == "at_risk")
        .then(pl.format("fit score {} (at_risk)", pl.col("fit_score").round(1)))
        .when(pl.col("rule") == "ratio_below_3")
        .then(
            pl.format(
                "problem-solving to escalation ratio {} over 90 days",
                pl.col("ps_escalation_ratio_90d").round(2),
            )
        )
        .when(pl.col("rule") == "corner_below_7")
        .then(
            pl.format(
                "weakest corner {} at {}",
                pl.col("weakest_corner"),
                pl.min_horizontal("culture", "operations", "strategy", "trust").round(1),
            )
        )
        .when(pl.col("rule") == "gone_quiet")
        .then(pl.format("no event for {} days", pl.col("days_since_last_event")))
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


def _spans_sql(rules: dict[str, str]) -> str:
    """Runs of consecutive holding days: rows are one per day, so within a run the day minus
    its rank is constant (gaps and islands). Each run stops holding the day after its last,
    unless that last day is the partnership's latest row."""
    return f"""
    WITH holding AS ({_holding_sql(rules)}),
    ranked AS (
        SELECT *, {DAY} - CAST(row_number() OVER (PARTITION BY {P}, rule ORDER BY {DAY})
                              AS INTEGER) AS run
        FROM holding
    ),
    spans AS (
        SELECT {P}, rule, min({DAY}) AS opened_on, max({DAY}) AS last_seen_on
        FROM ranked GROUP BY {P}, rule, run
    ),
    last_rows AS (SELECT {P}, max({DAY}) AS last_row FROM fit_health GROUP BY {P})
    SELECT s.*, CASE WHEN s.last_seen_on < l.last_row
                     THEN CAST(s.last_seen_on + 1 AS DATE) END AS resolved_on
    FROM spans s JOIN last_rows l USING ({P})
    """


CONTEXT_COLUMNS = [
    "owner",
    "name",
    "fit_score",
    "score_change_30d",
    "top_negative_driver",
    "ps_escalation_ratio_90d",
    "weakest_corner",
    "culture",
    "operations",
    "strategy",
    "trust",
    "days_since_last_event",
    "score_change_by_component",
]


def _alert_id() -> pl.Expr:
    return pl.concat_str(
        [pl.col(P), pl.col("rule"), pl.col("opened_on").dt.strftime("%Y-%m-%d")], separator=":"
    ).alias("alert_id")


def project(
    source, rules: dict[str, str], severities: dict[str, str], since: date | None = None
) -> pl.DataFrame:
    """The alerts table (see the module docstring) from fit-health history: a polars frame or
    an Arrow dataset of the published table (only its days from `since` on, when given)."""
    con = _connect(source, since)
    try:
        spans = pl.from_arrow(con.sql(_spans_sql(rules)).to_arrow_table())
        if spans.is_empty():
            return pl.DataFrame(schema=ALERT_SCHEMA)
        con.register("spans", spans.select(P, "last_seen_on").unique().to_arrow())
        context = pl.from_arrow(
            con.sql(
                f"SELECT f.{P}, f.{DAY}, {', '.join('f.' + c for c in CONTEXT_COLUMNS)} "
                f"FROM fit_health f JOIN spans s ON f.{P} = s.{P} AND f.{DAY} = s.last_seen_on"
            ).to_arrow_table()
        )
    finally:
        con.close()
    components = list(context.schema["score_change_by_component"].to_schema())
    context = context.with_columns(pl.col("score_change_by_component").struct.unnest())
    driver_change = pl.coalesce(
        [pl.when(pl.col("top_negative_driver") == c).then(pl.col(c)) for c in components]
    )
    joined = spans.join(context, left_on=[P, "last_seen_on"], right_on=[P, DAY], how="left")
    return (
        joined.with_columns(driver_change.alias("_driver_change"))
        .select(
            _alert_id(),
            P,
            "rule",
            pl.col("rule").replace_strict(severities, default="warning").alias("severity"),
            "opened_on",
            "resolved_on",
            "last_seen_on",
            pl.when(pl.col("resolved_on").is_null())
            .then(pl.lit("open"))
            .otherwise(pl.lit("resolved"))
            .alias("status"),
            "owner",
            "name",
            _explain().alias("explanation"),
        )
        .cast(dict(ALERT_SCHEMA))
        .sort(P, "rule", "opened_on")
    )


def update(
    previous: pl.DataFrame,
    source,
    rules: dict[str, str],
    severities: dict[str, str],
    start: date,
) -> pl.DataFrame:
    """The alerts table after the fit-health days from `start` on were replaced, equal to
    `project` over the whole new history while reading only the days from `start - 1` on.

    Day `edge = start - 1` did not change, so neither did whether a rule held on it. An episode
    that ended before `edge` (last seen earlier) is final: its resolving day and its context
    row precede `start`. Every other episode is re-projected from the days since `edge`; one
    that holds on `edge` continues the previous episode holding there, whose `opened_on` (and
    so `alert_id`) it keeps. (Rows stop only at `ended_on` or `as_of`, and the registry is
    unchanged, or the refresh would be a rebuild.)
    """
    edge = start - timedelta(days=1)
    final = previous.filter(pl.col("last_seen_on") < edge)
    ongoing = previous.filter(
        (pl.col("opened_on") <= edge) & (pl.col("last_seen_on") >= edge)
    ).select(P, "rule", pl.col("opened_on").alias("_opened"))
    recent = project(source, rules, severities, since=edge)
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


# --- transitions, and which of them a refresh notifies -------------------------------------

TRANSITION_SCHEMA = pl.Schema(
    {
        "key": pl.String(),
        "alert_id": pl.String(),
        "transition": pl.String(),
        "transition_on": pl.Date(),
        "partnership_id": pl.String(),
        "name": pl.String(),
        "owner": pl.String(),
        "rule": pl.String(),
        "severity": pl.String(),
        "opened_on": pl.Date(),
        "explanation": pl.String(),
    }
)
"""One row per alert transition: `open` on `opened_on`, `resolve` on `resolved_on`; `key` is
`<alert_id>:<transition>`, the idempotency key a sink sees."""

SEVERITY_RANK = {"warning": 1, "critical": 2}


def transitions(alerts: pl.DataFrame) -> pl.DataFrame:
    """Every open and resolve of the alerts table."""
    both = pl.concat(
        [
            alerts.with_columns(
                pl.lit("open").alias("transition"), pl.col("opened_on").alias("transition_on")
            ),
            alerts.filter(pl.col("resolved_on").is_not_null()).with_columns(
                pl.lit("resolve").alias("transition"),
                pl.col("resolved_on").alias("transition_on"),
            ),
        ]
    )
    return both.select(
        pl.concat_str(["alert_id", "transition"], separator=":").alias("key"),
        *[c for c in TRANSITION_SCHEMA if c != "key"],
    ).cast(dict(TRANSITION_SCHEMA))


def due(all_transitions: pl.DataFrame, since: date | None, latest: date) -> pl.DataFrame:
    """The transitions a refresh through `latest` notifies: those dated after the previous
    notifying refresh's day `since`; on a first run (`since` None) only those of `latest`."""
    day = pl.col("transition_on")
    keep = (day == latest) if since is None else (day > since) & (day <= latest)
    return all_transitions.filter(keep)


ACTION_SCHEMA = pl.Schema(
    {
        "action_id": pl.String(),
        "alert_id": pl.String(),
        "partnership_id": pl.String(),
        "action": pl.String(),
        "severity": pl.String(),
        "until": pl.Date(),
        "reason": pl.String(),
        "actor": pl.String(),
        "recorded_at": pl.Datetime("us", "UTC"),
    }
)
"""Append-only alert actions: `ack` or `snooze` (through `until`, inclusive), with the snoozed
alert's partnership and severity."""


def silenced(pending: pl.DataFrame, actions: pl.DataFrame, as_of: date) -> pl.DataFrame:
    """`pending` transitions with `held` (a snooze covers it on `as_of`) and `dropped` (its
    alert was acknowledged, so its opening need not be told again).

    A snooze of an alert, while `as_of <= until`, holds the transitions of that partnership's
    alerts of the same or lower severity: a snoozed alert notifies again when the snooze ends
    or the partnership's alerting severity rises above the snoozed one.
    """
    rank = pl.col("severity").replace_strict(SEVERITY_RANK, default=1)
    snoozes = (
        actions.filter((pl.col("action") == "snooze") & (pl.col("until") >= as_of))
        .group_by("partnership_id")
        .agg(rank.max().alias("_snoozed_rank"))
    )
    acked = actions.filter(pl.col("action") == "ack").select("alert_id").unique()
    return (
        pending.join(snoozes, on="partnership_id", how="left")
        .join(acked.with_columns(pl.lit(True).alias("_acked")), on="alert_id", how="left")
        .with_columns(
            (rank <= pl.col("_snoozed_rank")).fill_null(False).alias("held"),
            (pl.col("_acked").fill_null(False) & (pl.col("transition") == "open")).alias("dropped"),
        )
        .drop("_snoozed_rank", "_acked")
    )
