"""Renewal gates, their decisions and the diagnostic (SPEC §9), as polars expressions.

The gates of a partnership are G_k = started_on + k·months, k ≥ 1, the day clamped to the
month's length. A `renewal_decision` counts for the gate equal to its `gate_on`; per gate and
side the latest decision stands (latest `occurred_at`, ties to the greatest `event_id`). The
outcome: `exited` if either side's standing decision is exit, else `restructured` if either
is restructure, else `reaffirmed` if both reaffirm, else `unconfirmed`. A side's latest
`diagnostic_response` stands for it, with no window; the diagnostic is the mean over the sides
that responded.

As everywhere, only events dated ≤ d count at d: the standing decision or response at d is
the last one, in (`occurred_at`, `event_id`) order, whose date is ≤ d — a backward as-of join
on the date, after keeping one row per date (the last of that day).
"""

from __future__ import annotations

from datetime import date

import polars as pl

P, DAY = "partnership_id", "as_of"
DIMENSIONS = ("strategic_importance", "replaceability", "integration_depth", "risk_symmetry")
DECIDED = ("reaffirmed", "restructured", "exited")
FAILED = ("restructured", "exited")
GOVERNANCE_COLUMNS = [
    "last_gate_on",
    "last_gate_outcome",
    "days_since_last_gate",
    *DIMENSIONS,
    "diagnostic_below_7",
]


def gate(started: pl.Expr, k: pl.Expr, months: int) -> pl.Expr:
    """G_k: `started` plus k·months months, the day clamped to the month's length."""
    return started.dt.offset_by(pl.format("{}mo", k * months))


def last_gate(months: int, day: pl.Expr | None = None) -> pl.Expr:
    """The greatest gate ≤ `day` (default: the row's as_of) of `started_on`; null before the
    first gate."""
    start = pl.col("started_on")
    d = pl.col(DAY) if day is None else day
    elapsed = (d.dt.year() - start.dt.year()) * 12 + d.dt.month() - start.dt.month()
    k = elapsed // months
    k = pl.when(gate(start, k, months) > d).then(k - 1).otherwise(k)
    return pl.when(k >= 1).then(gate(start, k, months))


def outcome(a: pl.Expr, b: pl.Expr) -> pl.Expr:
    """The outcome of a gate from the standing decisions of side a and side b (null: none)."""

    def either(value: str) -> pl.Expr:
        return (a == value).fill_null(False) | (b == value).fill_null(False)

    return (
        pl.when(either("exit"))
        .then(pl.lit("exited"))
        .when(either("restructure"))
        .then(pl.lit("restructured"))
        .when((a == "reaffirm").fill_null(False) & (b == "reaffirm").fill_null(False))
        .then(pl.lit("reaffirmed"))
        .otherwise(pl.lit("unconfirmed"))
    )


def decisions(governance: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """The renewal decisions dated ≤ as_of: P, `gate_on`, `side`, `_d` (their date),
    `occurred_at`, `event_id`, `decision`."""
    return governance.filter(
        (pl.col("event_type") == "renewal_decision") & (pl.col("occurred_at").dt.date() <= as_of)
    ).select(
        P,
        "gate_on",
        "side",
        pl.col("occurred_at").dt.date().alias("_d"),
        "occurred_at",
        "event_id",
        "decision",
    )


def diagnostics(governance: pl.LazyFrame, as_of: date) -> pl.LazyFrame:
    """The diagnostic responses dated ≤ as_of: P, `respondent_side`, `_d`, the dimensions."""
    return governance.filter(
        (pl.col("event_type") == "diagnostic_response") & (pl.col("occurred_at").dt.date() <= as_of)
    ).select(
        P,
        "respondent_side",
        pl.col("occurred_at").dt.date().alias("_d"),
        "occurred_at",
        "event_id",
        *DIMENSIONS,
    )


def _last_of_each_day(frame: pl.LazyFrame, keys: list[str], values: list[str]) -> pl.LazyFrame:
    """One row per `keys` and date: the values of the last event of that day, in
    (`occurred_at`, `event_id`) order; sorted for an as-of join on the date."""
    return (
        frame.sort([*keys, "_d", "occurred_at", "event_id"])
        .group_by([*keys, "_d"], maintain_order=True)
        .agg(pl.col(values).last())
        .sort([*keys, "_d"])
    )


def governance_columns(
    rows: pl.LazyFrame,
    decided: pl.LazyFrame,
    responses: pl.LazyFrame,
    months: int,
    threshold: float,
) -> pl.LazyFrame:
    """Add the SPEC §9 columns to grid rows (P, as_of, started_on; sorted by P, as_of)."""
    frame = rows.with_columns(last_gate(months).alias("last_gate_on"))
    for side in ("a", "b"):
        mine = _last_of_each_day(
            decided.filter(pl.col("side") == side), [P, "gate_on"], ["decision"]
        ).rename({"decision": f"_decision_{side}", "_d": f"_dd_{side}"})
        frame = frame.join_asof(
            mine,
            left_on=DAY,
            right_on=f"_dd_{side}",
            by_left=[P, "last_gate_on"],
            by_right=[P, "gate_on"],
            strategy="backward",
            check_sortedness=False,
        ).drop(f"_dd_{side}", "gate_on", strict=False)
        answers = _last_of_each_day(
            responses.filter(pl.col("respondent_side") == side), [P], list(DIMENSIONS)
        ).rename({**{c: f"_{c}_{side}" for c in DIMENSIONS}, "_d": f"_rd_{side}"})
        frame = frame.join_asof(
            answers,
            left_on=DAY,
            right_on=f"_rd_{side}",
            by=P,
            strategy="backward",
            check_sortedness=False,
        ).drop(f"_rd_{side}")
    means = {
        c: pl.mean_horizontal(pl.col(f"_{c}_a"), pl.col(f"_{c}_b")).alias(c) for c in DIMENSIONS
    }
    gated = pl.col("last_gate_on").is_not_null()
    return (
        frame.with_columns(
            pl.when(gated)
            .then(outcome(pl.col("_decision_a"), pl.col("_decision_b")))
            .alias("last_gate_outcome"),
            (pl.col(DAY) - pl.col("last_gate_on")).dt.total_days().alias("days_since_last_gate"),
            *means.values(),
        )
        .with_columns(
            pl.any_horizontal([(pl.col(c) < threshold).fill_null(False) for c in DIMENSIONS]).alias(
                "diagnostic_below_7"
            )
        )
        .drop(
            "_decision_a",
            "_decision_b",
            *[f"_{c}_{s}" for c in DIMENSIONS for s in ("a", "b")],
        )
    )
