"""Leading indicators per partnership per day (SPEC §3–§4), as polars lazy expressions.

Grain: one row per partnership `p` and day `d` with `started_on ≤ d ≤ min(ended_on, as_of)`.

Every trailing-window figure is a difference array summed over a dense daily grid: an event
dated e adds its value at max(e, grid start) and takes it away at e + N, so one cumulative sum
per partnership gives the sum over event dates in [d − N + 1, d]. Because the grid can start at
any day, the same code computes a full history or only a recent stretch (incremental refresh).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, date, datetime, time, timedelta
from typing import TYPE_CHECKING

import polars as pl

from fitmodel import governance
from fitmodel.events import CORNERS

if TYPE_CHECKING:
    from fitmodel.config import ModelConfig

P = "partnership_id"
DAY = "as_of"


@dataclass(frozen=True)
class Events:
    """The five event tables (lazy), as stored."""

    meetings: pl.LazyFrame
    escalations: pl.LazyFrame
    communications: pl.LazyFrame
    surveys: pl.LazyFrame
    governance: pl.LazyFrame


def _day(col: str = "occurred_at") -> pl.Expr:
    return pl.col(col).dt.date()


def grid(registry: pl.LazyFrame, as_of: date, start: date | None = None) -> pl.LazyFrame:
    """One row per partnership and day, from `started_on` (or `start`, if later) to
    min(`ended_on`, `as_of`)."""
    first = pl.col("started_on")
    if start is not None:
        first = pl.max_horizontal(first, pl.lit(start))
    last = pl.min_horizontal(pl.col("ended_on").fill_null(pl.lit(as_of)), pl.lit(as_of))
    return (
        registry.select(P, first.alias("_from"), last.alias("_to"))
        .filter(pl.col("_from") <= pl.col("_to"))
        .select(P, pl.date_ranges("_from", "_to").alias(DAY), pl.col("_from"))
        .explode(DAY)
    )


def pair_escalations(escalations: pl.LazyFrame) -> pl.LazyFrame:
    """One row per (partnership, escalation_id) that was opened: opened_at (earliest open, ties
    to the lowest event_id; its severity and corner) and resolved_at (the earliest resolution
    at or after it), or null."""
    opened = (
        escalations.filter(pl.col("event_type") == "escalation_opened")
        .group_by(P, "escalation_id")
        .agg(pl.col("occurred_at", "severity", "corner").sort_by("occurred_at", "event_id").first())
        .rename({"occurred_at": "opened_at"})
    )
    resolutions = escalations.filter(pl.col("event_type") == "escalation_resolved").select(
        P, "escalation_id", pl.col("occurred_at").alias("resolved_at")
    )
    resolved = (
        opened.select(P, "escalation_id", "opened_at")
        .join(resolutions, on=[P, "escalation_id"])
        .filter(pl.col("resolved_at") >= pl.col("opened_at"))
        .group_by(P, "escalation_id")
        .agg(pl.col("resolved_at").min())
    )
    return opened.join(resolved, on=[P, "escalation_id"], how="left").with_columns(
        _day("opened_at").alias("opened_on"), _day("resolved_at").alias("resolved_on")
    )


def _deltas(
    frame: pl.LazyFrame, on: str, names: list[str], days: int | None, starts: pl.LazyFrame
) -> pl.LazyFrame:
    """Difference-array entries for columns `names` of `frame` (P, date column `on`) over a
    trailing window of `days` (None: from then on), summed per partnership-day.

    `starts` has P and `_from`, the grid's first day; earlier events enter on that day."""
    base = frame.join(starts, on=P).select(P, pl.col(on).alias("_e"), "_from", *names)
    if days is not None:
        base = base.filter(pl.col("_e") + timedelta(days=days) > pl.col("_from"))
    parts = [base.select(P, pl.max_horizontal("_e", "_from").alias(DAY), *names)]
    if days is not None:
        parts.append(
            base.select(
                P, (pl.col("_e") + timedelta(days=days)).alias(DAY), *[-pl.col(n) for n in names]
            )
        )
    return pl.concat(parts).group_by(P, DAY).agg(pl.col(names).sum())


def _windowed(grid_: pl.LazyFrame, deltas: list[pl.LazyFrame]) -> pl.LazyFrame:
    """Join each group of difference arrays onto the grid and integrate per partnership."""
    names = list(dict.fromkeys(c for d in deltas for c in d.collect_schema() if c not in (P, DAY)))
    frame = grid_
    for delta in deltas:
        frame = frame.join(delta, on=[P, DAY], how="left")
    return frame.sort(P, DAY).with_columns(pl.col(names).fill_null(0).cum_sum().over(P))


def _median_resolution(pairs: pl.LazyFrame, starts: pl.LazyFrame, days: int) -> pl.LazyFrame:
    """Median resolution time (days) over escalations resolved in the trailing window, on the
    days it can change (an escalation entering or leaving the window, and the grid's first
    day); forward-filled onto the grid by the caller."""
    window = timedelta(days=days)
    # Only resolutions still inside the window on the grid's first day or later can count.
    resolved = (
        pairs.filter(pl.col("resolved_on").is_not_null())
        .join(starts, on=P)
        .filter(pl.col("resolved_on") + window > pl.col("_from"))
        .select(
            P,
            "resolved_on",
            (
                (pl.col("resolved_at") - pl.col("opened_at")).dt.total_microseconds() / 86_400e6
            ).alias("dur"),
        )
    )
    changes = (
        pl.concat(
            [
                resolved.select(P, pl.col("resolved_on").alias(DAY)),
                resolved.select(P, (pl.col("resolved_on") + window).alias(DAY)),
                starts.select(P, pl.col("_from").alias(DAY)),
            ]
        )
        .unique()
        .join(starts, on=P)
        .filter(pl.col(DAY) >= pl.col("_from"))
        .drop("_from")
    )
    members = changes.join_where(
        resolved,
        pl.col(P) == pl.col(f"{P}_right"),
        pl.col("resolved_on") <= pl.col(DAY),
        pl.col("resolved_on") > pl.col(DAY) - window,
    )
    medians = members.group_by(P, DAY).agg(pl.col("dur").median().alias("_median"))
    return changes.join(medians, on=[P, DAY], how="left").sort(P, DAY)


def _oldest_open(pairs: pl.LazyFrame) -> pl.LazyFrame:
    """When each escalation is the oldest open one: from max(opened_on, latest resolution of
    all earlier-opened ones) until its own resolution (exclusive). Reigns never overlap."""
    never = date(9999, 12, 31)
    ordered = pairs.select(
        P, "opened_on", pl.col("resolved_on").fill_null(never).alias("_until")
    ).sort(P, "opened_on")
    prior = pl.col("_until").cum_max().shift(1).over(P)
    return (
        ordered.with_columns(pl.max_horizontal("opened_on", prior).alias("_reign"))
        .filter(pl.col("_reign") < pl.col("_until"))
        .select(P, "_reign", "opened_on", "_until")
        .sort(P, "_reign")
    )


def _renewal_gate(months: int) -> pl.Expr:
    """The first started_on + k·months (k ≥ 1, day clamped to the month's end) that is ≥ d."""
    start, d = pl.col("started_on"), pl.col(DAY)
    elapsed = (d.dt.year() - start.dt.year()) * 12 + d.dt.month() - start.dt.month()
    k = pl.max_horizontal(pl.lit(1), elapsed // months)
    gate = start.dt.offset_by(pl.format("{}mo", k * months))
    later = start.dt.offset_by(pl.format("{}mo", (k + 1) * months))
    return pl.when(gate >= d).then(gate).otherwise(later)


def midnight(day: date) -> datetime:
    """The instant `day` begins (UTC, as `occurred_at` is stored): a bound on the stored
    instant lets a Parquet scan skip row groups, where one on its day does not."""
    return datetime.combine(day, time(), UTC)


def _since(frame: pl.LazyFrame, day: date) -> pl.LazyFrame:
    return frame.filter(pl.col("occurred_at") >= midnight(day))


@dataclass(frozen=True)
class Inputs:
    """What the grid stage needs, aggregated per partnership and day (`_d`), plus the paired
    escalations, the days each partnership had any event (`_last`), and the governance
    events (renewal decisions and diagnostic responses, few: read whole)."""

    comms: pl.LazyFrame
    meetings: pl.LazyFrame
    surveys: pl.LazyFrame
    pairs: pl.LazyFrame
    active_days: pl.LazyFrame
    decisions: pl.LazyFrame
    diagnostics: pl.LazyFrame

    def frames(self) -> list[pl.LazyFrame]:
        return [getattr(self, f.name) for f in fields(self)]

    def collect(self) -> Inputs:
        frames = pl.collect_all(self.frames(), engine="streaming")
        return Inputs(*(f.lazy() for f in frames))

    def only(self, ids: pl.Series) -> Inputs:
        keep = pl.col(P).is_in(ids.implode())
        return Inputs(*(frame.filter(keep) for frame in self.frames()))


def daily_inputs(
    events: Events,
    as_of: date,
    config: ModelConfig,
    start: date | None = None,
    last_seen: pl.LazyFrame | None = None,
) -> Inputs:
    """Aggregate the events per partnership and day (streamable, and far smaller than the
    events). With `start`, only events from `start` minus their stream's longest window are read
    (escalations are read whole: pairing needs every open and resolution), and `last_seen`
    (P, `_last`) gives each partnership's last event date before `start`, so
    days-since-last-event needs no full scan either."""
    w = config.windows
    cutoff = pl.lit(as_of)
    history = events
    if start is not None:
        # Each stream back to its own longest window: an older event is out of every window
        # from `start` on.
        def back(frame: pl.LazyFrame, *windows: int) -> pl.LazyFrame:
            return _since(frame, start - timedelta(days=max(windows)))

        events = Events(
            back(events.meetings, w.activity_days),
            events.escalations,
            back(events.communications, w.unscheduled_comms_days, w.activity_days),
            back(events.surveys, w.survey_days, config.recent_survey_days),
            events.governance,  # no window: a decision or a diagnostic stands until replaced
        )
    day = _day().alias("_d")

    def per_day(frame: pl.LazyFrame, **aggs: pl.Expr) -> pl.LazyFrame:
        return frame.filter(_day() <= cutoff).group_by(P, day).agg(**aggs)

    by_a = pl.col("initiated_by") == "a"
    side_a = pl.col("respondent_side") == "a"
    side_b = pl.col("respondent_side") == "b"
    response_mean = pl.mean_horizontal(*CORNERS)
    comms = per_day(
        events.communications,
        _unsched=(~pl.col("scheduled")).sum().cast(pl.Int64),
        comms_90d=pl.len().cast(pl.Int64),
        _comms_a=by_a.sum().cast(pl.Int64),
        _comms_b=(pl.col("initiated_by") == "b").sum().cast(pl.Int64),
    )
    meetings = per_day(
        events.meetings,
        meetings_90d=pl.len().cast(pl.Int64),
        problem_solving_90d=(pl.col("meeting_kind") == "joint_problem_solving")
        .sum()
        .cast(pl.Int64),
        ideas_90d=pl.col("ideas_generated").sum().cast(pl.Int64),
    )
    surveys = per_day(
        events.surveys,
        survey_responses_120d=pl.len().cast(pl.Int64),
        **{f"_sum_{c}": pl.col(c).sum().cast(pl.Float64) for c in CORNERS},
        _n_a=side_a.sum().cast(pl.Int64),
        _n_b=side_b.sum().cast(pl.Int64),
        _side_a=response_mean.filter(side_a).sum(),
        _side_b=response_mean.filter(side_b).sum(),
    )
    pairs = pair_escalations(events.escalations).filter(pl.col("opened_on") <= cutoff)
    if start is not None:
        # One resolved a window or more before the grid starts changes nothing on it (its
        # open and resolve cancel on the first day); leaving it out keeps the grid stage small.
        pairs = pairs.filter(
            pl.col("resolved_on").is_null()
            | (pl.col("resolved_on") > start - timedelta(days=w.activity_days))
            | (pl.col("resolved_on") > cutoff)
        )
    pairs = pairs.with_columns(
        pl.when(pl.col("resolved_on") <= cutoff).then(pl.col("resolved_on")),
        pl.when(pl.col("resolved_on") <= cutoff).then(pl.col("resolved_at")).alias("resolved_at"),
    ).select(P, "severity", "opened_at", "resolved_at", "opened_on", "resolved_on")

    # Days with an event of any type (resolutions without an open included).
    seeded = last_seen is not None and start is not None
    source = [
        history.meetings,
        history.escalations,
        history.communications,
        history.surveys,
        history.governance,
    ]
    if seeded:
        source = [_since(table, start) for table in source]
    active = pl.concat([table.select(P, _day().alias("_last")) for table in source])
    if seeded:
        active = pl.concat([active, last_seen.select(P, pl.col("_last").cast(pl.Date))])
    active = active.filter(pl.col("_last") <= cutoff).unique()
    return Inputs(
        comms,
        meetings,
        surveys,
        pairs,
        active,
        governance.decisions(events.governance, as_of),
        governance.diagnostics(events.governance, as_of),
    )


def grid_indicators(
    inputs: Inputs,
    registry: pl.LazyFrame,
    as_of: date,
    config: ModelConfig,
    start: date | None = None,
) -> pl.LazyFrame:
    """The indicators on the dense grid of `registry`'s partnerships, from daily inputs."""
    w = config.windows
    days = grid(registry, as_of, start)
    starts = days.select(P, "_from").unique()
    pairs = inputs.pairs
    opened = pairs.group_by(P, "opened_on").agg(
        escalations_90d=pl.len().cast(pl.Int64),
        critical_escalations_90d=(pl.col("severity") == "critical").sum().cast(pl.Int64),
    )
    resolved = (
        pairs.filter(pl.col("resolved_on").is_not_null())
        .group_by(P, "resolved_on")
        .agg(_resolved=pl.len().cast(pl.Int64))
    )
    open_changes = pl.concat(
        [
            opened.select(
                P,
                pl.col("opened_on").alias("_d"),
                pl.col("escalations_90d").alias("open_escalations"),
            ),
            resolved.select(
                P,
                pl.col("resolved_on").alias("_d"),
                (-pl.col("_resolved")).alias("open_escalations"),
            ),
        ]
    )
    survey_cols = [
        "survey_responses_120d",
        *[f"_sum_{c}" for c in CORNERS],
        "_n_a",
        "_n_b",
        "_side_a",
        "_side_b",
    ]
    deltas = [
        _deltas(inputs.comms, "_d", ["_unsched"], w.unscheduled_comms_days, starts),
        _deltas(inputs.comms, "_d", ["comms_90d", "_comms_a", "_comms_b"], w.activity_days, starts),
        _deltas(
            inputs.meetings,
            "_d",
            ["meetings_90d", "problem_solving_90d", "ideas_90d"],
            w.activity_days,
            starts,
        ),
        _deltas(
            opened,
            "opened_on",
            ["escalations_90d", "critical_escalations_90d"],
            w.activity_days,
            starts,
        ),
        _deltas(open_changes, "_d", ["open_escalations"], None, starts),
        _deltas(inputs.surveys, "_d", survey_cols, w.survey_days, starts),
        _deltas(
            inputs.surveys.select(
                P, "_d", pl.col("survey_responses_120d").alias("_recent_surveys")
            ),
            "_d",
            ["_recent_surveys"],
            config.recent_survey_days,
            starts,
        ),
    ]
    frame = _windowed(days, deltas)

    every = inputs.active_days.sort(P, "_last")
    frame = frame.join_asof(
        every, left_on=DAY, right_on="_last", by=P, strategy="backward", check_sortedness=False
    )
    frame = frame.join_asof(
        _oldest_open(pairs),
        left_on=DAY,
        right_on="_reign",
        by=P,
        strategy="backward",
        check_sortedness=False,
    )
    frame = frame.join_asof(
        _median_resolution(pairs, starts, w.activity_days).rename({DAY: "_changed"}),
        left_on=DAY,
        right_on="_changed",
        by=P,
        strategy="backward",
        check_sortedness=False,
    )

    a, b = pl.col("_comms_a"), pl.col("_comms_b")
    corner_means = {c: pl.col(f"_sum_{c}") / pl.col("survey_responses_120d") for c in CORNERS}
    frame = frame.with_columns(
        (pl.col("_unsched") / (w.unscheduled_comms_days / 7)).alias("unscheduled_comms_per_week"),
        pl.when(pl.col("comms_90d") > 0)
        .then(1 - (a - b).abs() / (a + b))
        .alias("comms_balance_90d"),
        pl.when(pl.col(DAY) < pl.col("_until"))
        .then((pl.col(DAY) - pl.col("opened_on")).dt.total_days())
        .alias("oldest_open_escalation_days"),
        pl.col("_median").alias("median_resolution_days_90d"),
        pl.when(pl.col("escalations_90d") > 0)
        .then(pl.col("problem_solving_90d") / pl.col("escalations_90d"))
        .alias("ps_escalation_ratio_90d"),
        *[
            pl.when(pl.col("survey_responses_120d") > 0).then(expr).alias(c)
            for c, expr in corner_means.items()
        ],
        pl.when((pl.col("_n_a") > 0) & (pl.col("_n_b") > 0))
        .then((pl.col("_side_a") / pl.col("_n_a") - pl.col("_side_b") / pl.col("_n_b")).abs())
        .alias("side_gap"),
        (pl.col(DAY) - pl.col("_last")).dt.total_days().alias("days_since_last_event"),
    )
    lowest = pl.min_horizontal(*CORNERS)
    weakest = pl.when(lowest.is_null()).then(None)
    for c in CORNERS:
        weakest = weakest.when(pl.col(c) == lowest).then(pl.lit(c))
    frame = frame.with_columns(
        (
            (pl.col("escalations_90d") > 0)
            & (pl.col("ps_escalation_ratio_90d") < config.ratio_threshold)
        )
        .fill_null(False)
        .alias("ratio_below_3"),
        weakest.alias("weakest_corner"),
        pl.any_horizontal(
            [(pl.col(c) < config.corner_threshold).fill_null(False) for c in CORNERS]
        ).alias("corner_below_7"),
    )
    registry_cols = registry.select(P, "started_on")
    frame = frame.join(registry_cols, on=P).with_columns(
        _renewal_gate(w.renewal_months).alias("next_renewal_gate")
    )
    frame = governance.governance_columns(
        frame.sort(P, DAY),
        inputs.decisions,
        inputs.diagnostics,
        w.renewal_months,
        config.corner_threshold,
    )
    # `_recent_surveys` (responses in the trailing `recent_survey_days`) feeds data_confidence.
    return frame.select(P, DAY, *INDICATOR_COLUMNS, "_recent_surveys").sort(P, DAY)


INDICATOR_COLUMNS = [
    "unscheduled_comms_per_week",
    "comms_90d",
    "comms_balance_90d",
    "meetings_90d",
    "problem_solving_90d",
    "ideas_90d",
    "escalations_90d",
    "critical_escalations_90d",
    "open_escalations",
    "oldest_open_escalation_days",
    "median_resolution_days_90d",
    "ps_escalation_ratio_90d",
    "ratio_below_3",
    *CORNERS,
    "survey_responses_120d",
    "side_gap",
    "weakest_corner",
    "corner_below_7",
    "days_since_last_event",
    "next_renewal_gate",
    *governance.GOVERNANCE_COLUMNS,
]
