"""Why did a partnership's fit score move? From the published rows down to the events.

`explain` compares a partnership's row on `as_of` with its row `days` earlier: each
component's change in weighted share (SPEC §5 `score_change_by_component`, over any number
of days), and for the components that pulled the score down the most, the events behind
them, each with its date and event id. Pure polars over the fit-health rows and the events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta

import polars as pl

from fitmodel.config import ModelConfig
from fitmodel.events import CORNERS
from fitmodel.indicators import DAY, Events, P, pair_escalations
from fitmodel.score import COMPONENTS, TIE


@dataclass
class Explanation:
    """`summary`: one row (score, band, confidence then and now); `components`: one row per
    component, most negative change first; `evidence`: per driver, the events behind it."""

    partnership_id: str
    as_of: date
    since: date
    summary: pl.DataFrame
    components: pl.DataFrame
    evidence: dict[str, pl.DataFrame] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)

    @property
    def drivers(self) -> list[str]:
        return list(self.evidence)


class ExplainError(ValueError):
    """No row to explain."""


def _shares(row: dict, config: ModelConfig) -> dict[str, float]:
    weights = {n: getattr(config.components, n).weight for n in COMPONENTS}
    present = {n: row[f"{n}_score"] for n in COMPONENTS}
    total = sum(w for n, w in weights.items() if present[n] is not None)
    if not total:
        return dict.fromkeys(COMPONENTS, 0.0)
    return {n: (weights[n] * (present[n] or 0.0)) / total for n in COMPONENTS}


def _component_table(now: dict, then: dict | None, config: ModelConfig) -> pl.DataFrame:
    shares_now = _shares(now, config)
    shares_then = _shares(then, config) if then else dict.fromkeys(COMPONENTS, None)
    defined = then is not None and now["fit_score"] is not None and then["fit_score"] is not None
    return pl.DataFrame(
        {
            "component": list(COMPONENTS),
            "weight": [getattr(config.components, n).weight for n in COMPONENTS],
            "score_then": [then[f"{n}_score"] if then else None for n in COMPONENTS],
            "score_now": [now[f"{n}_score"] for n in COMPONENTS],
            "change": [(shares_now[n] - shares_then[n]) if defined else None for n in COMPONENTS],
        },
        schema={
            "component": pl.String,
            "weight": pl.Float64,
            "score_then": pl.Float64,
            "score_now": pl.Float64,
            "change": pl.Float64,
        },
    ).sort("change", nulls_last=True)


def _window(events: pl.LazyFrame, first: date, last: date) -> pl.LazyFrame:
    day = pl.col("occurred_at").dt.date()
    return events.filter(day.is_between(first, last)).with_columns(day.alias("on"))


def _survey(events: Events, pid: str, as_of: date, since: date, cfg: ModelConfig):
    n = cfg.windows.survey_days
    now_from, then_from = as_of - timedelta(days=n - 1), since - timedelta(days=n - 1)
    rows = (
        _window(events.surveys.filter(pl.col(P) == pid), then_from, as_of)
        .with_columns(
            pl.when(pl.col("on") >= now_from)
            .then(pl.lit("in window now"))
            .otherwise(pl.lit("left the window"))
            .alias("status"),
            pl.min_horizontal(*CORNERS).alias("lowest"),
        )
        .select("on", "event_id", "respondent_side", *CORNERS, "lowest", "status")
        .sort("on", "event_id")
        .collect()
    )
    below = rows.filter(
        (pl.col("status") == "in window now") & (pl.col("lowest") < cfg.corner_threshold)
    )
    note = (
        f"{rows.filter(pl.col('status') == 'in window now').height} response(s) in the "
        f"{n}-day window; {below.height} with a corner below {cfg.corner_threshold:g}"
    )
    return rows, note


def _escalations(events: Events, pid: str, as_of: date, since: date, cfg: ModelConfig):
    n = cfg.windows.activity_days
    esc = events.escalations.filter(pl.col(P) == pid)
    pairs = pair_escalations(esc).filter(pl.col("opened_on") <= as_of)
    opens = esc.filter(pl.col("event_type") == "escalation_opened").select(
        P,
        "escalation_id",
        pl.col("occurred_at").alias("opened_at"),
        pl.col("event_id").alias("open_event_id"),
    )
    closes = esc.filter(pl.col("event_type") == "escalation_resolved").select(
        P,
        "escalation_id",
        pl.col("occurred_at").alias("resolved_at"),
        pl.col("event_id").alias("resolve_event_id"),
    )
    resolved_on = pl.when(pl.col("resolved_on") <= as_of).then(pl.col("resolved_on"))
    rows = (
        pairs.join(opens, on=[P, "escalation_id", "opened_at"], how="left")
        .join(closes, on=[P, "escalation_id", "resolved_at"], how="left")
        .group_by("escalation_id")
        .agg(pl.all().sort_by("open_event_id", "resolve_event_id").first())
        .with_columns(resolved_on.alias("resolved_on"))
        .with_columns(
            pl.when(pl.col("resolved_on").is_not_null())
            .then((pl.col("resolved_at") - pl.col("opened_at")).dt.total_seconds() / 86400)
            .alias("resolution_days"),
            pl.when(pl.col("resolved_on").is_null())
            .then(pl.lit("open"))
            .when(pl.col("resolved_on") > since)
            .then(pl.lit("resolved in period"))
            .when(pl.col("resolved_on") > as_of - timedelta(days=n))
            .then(pl.lit("resolved in window"))
            .when(pl.col("resolved_on") > since - timedelta(days=n))
            .then(pl.lit("left the window"))
            .otherwise(pl.lit("resolved earlier"))
            .alias("status"),
            pl.when(pl.col("resolved_on").is_null())
            .then((pl.lit(as_of) - pl.col("opened_on")).dt.total_days())
            .alias("open_days"),
        )
        .filter(pl.col("status") != "resolved earlier")
        .select(
            "opened_on",
            "open_event_id",
            "escalation_id",
            "severity",
            "corner",
            "status",
            "resolved_on",
            "resolve_event_id",
            pl.col("resolution_days").round(2),
            "open_days",
        )
        .sort("opened_on", "escalation_id")
        .collect()
    )
    still_open = rows.filter(pl.col("status") == "open")
    recent = rows.filter(pl.col("status").is_in(["resolved in period", "resolved in window"]))
    note = (
        f"{still_open.height} open (oldest {still_open['open_days'].max() or 0} days), "
        f"{recent.height} resolved in the {n}-day window"
        + (
            f" (median {recent['resolution_days'].median():.1f} days)"
            if recent.height
            else " (no resolution time: responsiveness is null)"
        )
    )
    return rows, note


def _weekly(frame: pl.LazyFrame, as_of: date, since: date, n: int, **aggs) -> pl.DataFrame:
    """Counts per 7-day period ending on as_of, from the window before `since` on."""
    first = since - timedelta(days=n - 1)
    return (
        _window(frame, first, as_of)
        .with_columns(
            (
                pl.lit(as_of)
                - pl.duration(days=(pl.lit(as_of) - pl.col("on")).dt.total_days() // 7 * 7)
            ).alias("week_ending")
        )
        .group_by("week_ending")
        .agg(**aggs)
        .sort("week_ending")
        .collect()
    )


def _engagement(events: Events, pid: str, as_of: date, since: date, cfg: ModelConfig):
    n = cfg.windows.unscheduled_comms_days
    comms = events.communications.filter(pl.col(P) == pid)
    weeks = _weekly(
        comms,
        as_of,
        since,
        n,
        unscheduled=(~pl.col("scheduled")).sum().cast(pl.Int64),
        scheduled=pl.col("scheduled").sum().cast(pl.Int64),
        first_event_id=pl.col("event_id").sort_by("occurred_at").first(),
    )

    def per_week(day: date) -> float:
        c = _window(comms, day - timedelta(days=n - 1), day).filter(~pl.col("scheduled"))
        return c.select(pl.len()).collect().item() / (n / 7)

    note = f"unscheduled communications per week: {per_week(since):.2f} then, {per_week(as_of):.2f} now"
    return weeks, note


def _balance(events: Events, pid: str, as_of: date, since: date, cfg: ModelConfig):
    n = cfg.windows.activity_days
    comms = events.communications.filter(pl.col(P) == pid)
    weeks = _weekly(
        comms,
        as_of,
        since,
        n,
        by_a=(pl.col("initiated_by") == "a").sum().cast(pl.Int64),
        by_b=(pl.col("initiated_by") == "b").sum().cast(pl.Int64),
    )

    def sides(day: date) -> tuple[int, int]:
        c = _window(comms, day - timedelta(days=n - 1), day)
        side = pl.col("initiated_by")
        return (
            c.select((side == "a").sum().alias("a"), (side == "b").sum().alias("b"))
            .collect()
            .row(0)
        )

    (a0, b0), (a1, b1) = sides(since), sides(as_of)
    note = f"communications initiated by a/b in {n} days: {a0}/{b0} then, {a1}/{b1} now"
    return weeks, note


def _meetings(events: Events, pid: str, as_of: date, since: date, cfg: ModelConfig, ideas: bool):
    n = cfg.windows.activity_days
    meetings = events.meetings.filter(pl.col(P) == pid)
    keep = (
        pl.col("ideas_generated") > 0
        if ideas
        else pl.col("meeting_kind") == "joint_problem_solving"
    )
    rows = (
        _window(meetings, since - timedelta(days=n - 1), as_of)
        .filter(keep)
        .with_columns(
            pl.when(pl.col("on") > as_of - timedelta(days=n))
            .then(pl.lit("in window now"))
            .otherwise(pl.lit("left the window"))
            .alias("status")
        )
        .select("on", "event_id", "meeting_kind", "ideas_generated", "status")
        .sort("on", "event_id")
        .collect()
    )
    now = rows.filter(pl.col("status") == "in window now")
    then = rows.filter(pl.col("on") <= since)
    if ideas:
        note = f"ideas in {n} days: {then['ideas_generated'].sum()} then, {now['ideas_generated'].sum()} now"
    else:
        esc = pair_escalations(events.escalations.filter(pl.col(P) == pid))

        def opened(day: date) -> int:
            return (
                esc.filter(pl.col("opened_on").is_between(day - timedelta(days=n - 1), day))
                .select(pl.len())
                .collect()
                .item()
            )

        note = (
            f"joint problem-solving meetings / escalations in {n} days: "
            f"{then.height}/{opened(since)} then, {now.height}/{opened(as_of)} now"
        )
    return rows, note


def explain(
    fit_health: pl.LazyFrame,
    events: Events,
    partnership_id: str,
    as_of: date | None = None,
    days: int = 30,
    config: ModelConfig | None = None,
    drivers: int = 3,
) -> Explanation:
    """Explain `partnership_id`'s fit score on `as_of` (default: its latest row) against
    `days` earlier; evidence for up to `drivers` components whose change is negative."""
    config = config or ModelConfig()
    mine = fit_health.filter(pl.col(P) == partnership_id)
    if as_of is None:
        as_of = mine.select(pl.col(DAY).max()).collect().item()
        if as_of is None:
            raise ExplainError(f"no fit-health rows for partnership {partnership_id!r}")
    since = as_of - timedelta(days=days)
    rows = mine.filter(pl.col(DAY).is_in([as_of, since])).collect()
    now = rows.filter(pl.col(DAY) == as_of)
    if now.is_empty():
        raise ExplainError(f"no fit-health row for {partnership_id!r} on {as_of}")
    now_row = now.row(0, named=True)
    then = rows.filter(pl.col(DAY) == since)
    then_row = then.row(0, named=True) if then.height else None

    components = _component_table(now_row, then_row, config)
    change = (
        now_row["fit_score"] - then_row["fit_score"]
        if then_row and now_row["fit_score"] is not None and then_row["fit_score"] is not None
        else None
    )
    summary = pl.DataFrame(
        [
            {
                P: partnership_id,
                "name": now_row["name"],
                "owner": now_row["owner"],
                "since": since,
                "as_of": as_of,
                "fit_score_then": then_row["fit_score"] if then_row else None,
                "fit_score": now_row["fit_score"],
                "change": change,
                "band_then": then_row["band"] if then_row else None,
                "band": now_row["band"],
                "data_confidence": now_row.get("data_confidence"),
                "weakest_corner": now_row["weakest_corner"],
                "days_since_last_event": now_row["days_since_last_event"],
            }
        ]
    )
    result = Explanation(partnership_id, as_of, since, summary, components)
    negative = components.filter(pl.col("change") < -TIE).head(drivers)["component"].to_list()
    finders = {
        "survey": lambda: _survey(events, partnership_id, as_of, since, config),
        "responsiveness": lambda: _escalations(events, partnership_id, as_of, since, config),
        "collaboration": lambda: _meetings(events, partnership_id, as_of, since, config, False),
        "innovation": lambda: _meetings(events, partnership_id, as_of, since, config, True),
        "engagement": lambda: _engagement(events, partnership_id, as_of, since, config),
        "balance": lambda: _balance(events, partnership_id, as_of, since, config),
    }
    for name in negative:
        frame, note = finders[name]()
        result.evidence[name] = frame
        result.notes[name] = note
    # Open escalations matter whatever the drivers are.
    if "responsiveness" not in result.evidence and now_row["open_escalations"]:
        frame, note = finders["responsiveness"]()
        result.evidence["open escalations"] = frame.filter(pl.col("status") == "open")
        result.notes["open escalations"] = note
    return result
