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
from fitmodel.events import CORNERS, DIMENSIONS
from fitmodel.indicators import DAY, Events, P, midnight, pair_escalations
from fitmodel.score import COMPONENTS, TIE, share, weight_sum


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


def _component_table(rows: pl.DataFrame, now: date, then: date, config: ModelConfig):
    """Per component: weight, score then and now, and the change of its weighted share
    (`fitmodel.score.share`; defined when both days have a fit score)."""
    scores = [f"{n}_score" for n in COMPONENTS]
    values = rows.with_columns(weight_sum(config).alias("_weight")).select(
        DAY, "fit_score", *scores, *[share(n, config).alias(n) for n in COMPONENTS]
    )
    a, b = _row(values, now), _row(values, then)
    defined = a.get("fit_score") is not None and b.get("fit_score") is not None
    return pl.DataFrame(
        {
            "component": list(COMPONENTS),
            "weight": [getattr(config.components, n).weight for n in COMPONENTS],
            "score_then": [b.get(f"{n}_score") for n in COMPONENTS],
            "score_now": [a.get(f"{n}_score") for n in COMPONENTS],
            "change": [a[n] - b[n] if defined else None for n in COMPONENTS],
        },
        schema={
            "component": pl.String,
            "weight": pl.Float64,
            "score_then": pl.Float64,
            "score_now": pl.Float64,
            "change": pl.Float64,
        },
    ).sort("change", nulls_last=True)


def _row(rows: pl.DataFrame, day: date) -> dict:
    """The row of `day`, or {} when there is none (before the partnership started)."""
    found = rows.filter(pl.col(DAY) == day)
    return found.row(0, named=True) if found.height else {}


def _window(events: pl.LazyFrame, first: date, last: date) -> pl.LazyFrame:
    """The events of the days `first` to `last`, with their day `on`."""
    at = pl.col("occurred_at")
    window = (at >= midnight(first)) & (at < midnight(last + timedelta(days=1)))
    return events.filter(window).with_columns(at.dt.date().alias("on"))


def _survey(events: Events, pid: str, as_of: date, since: date, cfg: ModelConfig):
    n = cfg.windows.survey_days
    now_from = as_of - timedelta(days=n - 1)
    return (
        _window(events.surveys.filter(pl.col(P) == pid), since - timedelta(days=n - 1), as_of)
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


def _escalations(events: Events, pid: str, as_of: date, since: date, cfg: ModelConfig):
    n = cfg.windows.activity_days
    esc = events.escalations.filter(pl.col(P) == pid).collect().lazy()  # read once, used thrice
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
    return (
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


def _meetings(events: Events, pid: str, as_of: date, since: date, cfg: ModelConfig, keep):
    n = cfg.windows.activity_days
    return (
        _window(events.meetings.filter(pl.col(P) == pid), since - timedelta(days=n - 1), as_of)
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


def _communications(events: Events, pid: str, as_of: date, since: date, n: int, **aggs):
    """Communications per 7-day period ending on as_of, from the `n`-day window before
    `since` on."""
    return (
        _window(
            events.communications.filter(pl.col(P) == pid), since - timedelta(days=n - 1), as_of
        )
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


def _evidence(
    name: str,
    events: Events,
    pid: str,
    since: date,
    now: dict,
    then: dict,
    cfg: ModelConfig,
) -> tuple[pl.DataFrame, str]:
    """The events behind component `name`, and one line with the published indicators it
    rests on, then (`then`: the row of `since`, or {}) and now."""
    as_of = now[DAY]

    def both(column: str, fmt: str = "") -> str:
        def show(value) -> str:
            return "-" if value is None else format(value, fmt)

        return f"{show(then.get(column))} then, {show(now[column])} now"

    w = cfg.windows
    if name == "survey":
        rows = _survey(events, pid, as_of, since, cfg)
        low = rows.filter(
            (pl.col("status") == "in window now") & (pl.col("lowest") < cfg.corner_threshold)
        )
        return rows, (
            f"{now['survey_responses_120d']} response(s) in the {w.survey_days}-day window; "
            f"{low.height} with a corner below {cfg.corner_threshold:g}"
        )
    if name == "responsiveness":
        rows = _escalations(events, pid, as_of, since, cfg)
        recent = rows.filter(pl.col("status").is_in(["resolved in period", "resolved in window"]))
        median = now["median_resolution_days_90d"]
        return rows, (
            f"{now['open_escalations']} open (oldest {now['oldest_open_escalation_days'] or 0} "
            f"days), {recent.height} resolved in the {w.activity_days}-day window"
            + (
                f" (median {median:.1f} days)"
                if median is not None
                else " (no resolution time: responsiveness is null)"
            )
        )
    if name == "collaboration":
        rows = _meetings(
            events, pid, as_of, since, cfg, pl.col("meeting_kind") == "joint_problem_solving"
        )
        then_pair = f"{then.get('problem_solving_90d', '-')}/{then.get('escalations_90d', '-')}"
        return rows, (
            f"joint problem-solving meetings / escalations in {w.activity_days} days: "
            f"{then_pair} then, {now['problem_solving_90d']}/{now['escalations_90d']} now"
        )
    if name == "innovation":
        rows = _meetings(events, pid, as_of, since, cfg, pl.col("ideas_generated") > 0)
        return rows, f"ideas in {w.activity_days} days: {both('ideas_90d')}"
    if name == "engagement":
        rows = _communications(
            events,
            pid,
            as_of,
            since,
            w.unscheduled_comms_days,
            unscheduled=(~pl.col("scheduled")).sum().cast(pl.Int64),
            scheduled=pl.col("scheduled").sum().cast(pl.Int64),
            first_event_id=pl.col("event_id").sort_by("occurred_at").first(),
        )
        return (
            rows,
            f"unscheduled communications per week: {both('unscheduled_comms_per_week', '.2f')}",
        )
    side = pl.col("initiated_by")
    rows = _communications(
        events,
        pid,
        as_of,
        since,
        w.activity_days,
        by_a=(side == "a").sum().cast(pl.Int64),
        by_b=(side == "b").sum().cast(pl.Int64),
    )

    # The split by side is not published (only the balance it gives): count it here.
    def sides(day: date) -> str:
        window = _window(
            events.communications.filter(pl.col(P) == pid),
            day - timedelta(days=w.activity_days - 1),
            day,
        )
        counts = window.select((side == "a").sum().alias("a"), (side == "b").sum().alias("b"))
        a, b = counts.collect().row(0)
        return f"{a}/{b}"

    return rows, (
        f"communications initiated by a/b in {w.activity_days} days: "
        f"{sides(since)} then, {sides(as_of)} now"
    )


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
    now_row, then_row = _row(rows, as_of), _row(rows, since)
    if not now_row:
        raise ExplainError(f"no fit-health row for {partnership_id!r} on {as_of}")
    components = _component_table(rows, as_of, since, config)
    defined = now_row["fit_score"] is not None and then_row.get("fit_score") is not None
    summary = pl.DataFrame(
        [
            {
                P: partnership_id,
                "name": now_row["name"],
                "owner": now_row["owner"],
                "since": since,
                "as_of": as_of,
                "fit_score_then": then_row.get("fit_score"),
                "fit_score": now_row["fit_score"],
                "change": now_row["fit_score"] - then_row["fit_score"] if defined else None,
                "band_then": then_row.get("band"),
                "band": now_row["band"],
                "data_confidence": now_row.get("data_confidence"),
                "weakest_corner": now_row["weakest_corner"],
                "days_since_last_event": now_row["days_since_last_event"],
                "last_gate_on": now_row.get("last_gate_on"),
                "last_gate_outcome": now_row.get("last_gate_outcome"),
                "days_since_last_gate": now_row.get("days_since_last_gate"),
                **{d: now_row.get(d) for d in DIMENSIONS},
                "diagnostic_below_7": now_row.get("diagnostic_below_7"),
            }
        ]
    )
    result = Explanation(partnership_id, as_of, since, summary, components)
    negative = components.filter(pl.col("change") < -TIE).head(drivers)["component"].to_list()
    for name in negative:
        result.evidence[name], result.notes[name] = _evidence(
            name, events, partnership_id, since, now_row, then_row, config
        )
    # Open escalations matter whatever the drivers are.
    if "responsiveness" not in result.evidence and now_row["open_escalations"]:
        frame, note = _evidence(
            "responsiveness", events, partnership_id, since, now_row, then_row, config
        )
        result.evidence["open escalations"] = frame.filter(pl.col("status") == "open")
        result.notes["open escalations"] = note
    return result
