"""The columns of the fit-health table, declared once: name, type and meaning (SPEC §4–§6).

The model computes exactly these (a test compares them with what it computes on no data);
the catalog, the alert rules' type checks and the Dagster column schema read them from here.
"""

from __future__ import annotations

from dataclasses import dataclass

import polars as pl

COMPONENTS = ("survey", "collaboration", "responsiveness", "engagement", "innovation", "balance")
"""The fit-score components in SPEC order (the order breaks ties between drivers)."""


@dataclass(frozen=True)
class Column:
    name: str
    dtype: pl.DataType
    description: str


def _columns(*specs: tuple[str, pl.DataType, str]) -> tuple[Column, ...]:
    return tuple(Column(*spec) for spec in specs)


S, F, N, B, D = pl.String(), pl.Float64(), pl.Int64(), pl.Boolean(), pl.Date()

FIT_HEALTH = _columns(
    ("partnership_id", S, "The partnership (registry id)."),
    ("as_of", D, "The day d of the row."),
    ("name", S, "The partnership's name (registry)."),
    ("partner_a", S, "Side a (registry)."),
    ("partner_b", S, "Side b (registry)."),
    ("industry_a", S, "Side a's industry (registry)."),
    ("industry_b", S, "Side b's industry (registry)."),
    ("owner", S, "Who owns the partnership (registry)."),
    ("unscheduled_comms_per_week", F, "Unscheduled communications in the trailing 28 days ÷ 4."),
    ("comms_90d", N, "Communications in the trailing 90 days."),
    ("comms_balance_90d", F, "1 − |a − b| ÷ (a + b) over communications initiated per side."),
    ("meetings_90d", N, "Meetings in the trailing 90 days."),
    ("problem_solving_90d", N, "Joint problem-solving meetings in the trailing 90 days."),
    ("ideas_90d", N, "Ideas generated in meetings of the trailing 90 days."),
    ("escalations_90d", N, "Escalations opened in the trailing 90 days."),
    ("critical_escalations_90d", N, "Of those, severity critical."),
    ("open_escalations", N, "Escalations opened on or before d and not resolved by d."),
    ("oldest_open_escalation_days", N, "Days since the oldest open escalation opened."),
    (
        "median_resolution_days_90d",
        F,
        "Median resolution time (days) of escalations resolved in the trailing 90 days.",
    ),
    ("ps_escalation_ratio_90d", F, "problem_solving_90d ÷ escalations_90d."),
    ("ratio_below_3", B, "escalations_90d > 0 and the ratio is below the ratio threshold."),
    ("culture", F, "Mean culture score of survey responses in the trailing 120 days."),
    ("operations", F, "Mean operations score of survey responses in the trailing 120 days."),
    ("strategy", F, "Mean strategy score of survey responses in the trailing 120 days."),
    ("trust", F, "Mean trust score of survey responses in the trailing 120 days."),
    ("survey_responses_120d", N, "Survey responses in the trailing 120 days."),
    ("side_gap", F, "|A − B| of the sides' mean response scores (both sides responded)."),
    ("weakest_corner", S, "The corner with the lowest mean (ties to the first)."),
    ("corner_below_7", B, "Any corner mean below the corner threshold."),
    ("days_since_last_event", N, "d − the latest event date of any stream."),
    ("next_renewal_gate", D, "The first renewal gate on or after d."),
    ("last_gate_on", D, "The greatest renewal gate on or before d (SPEC §9)."),
    (
        "last_gate_outcome",
        S,
        "reaffirmed, restructured, exited or unconfirmed, from the decisions dated ≤ d.",
    ),
    ("days_since_last_gate", N, "d − last_gate_on."),
    ("strategic_importance", F, "Mean over sides of their latest diagnostic response."),
    ("replaceability", F, "Mean over sides of their latest diagnostic response."),
    ("integration_depth", F, "Mean over sides of their latest diagnostic response."),
    ("risk_symmetry", F, "Mean over sides of their latest diagnostic response."),
    ("diagnostic_below_7", B, "Any diagnostic mean below the corner threshold."),
    *[
        (f"{c}_score", F, f"The {c} component, 0–100 (null when its input is null).")
        for c in COMPONENTS
    ],
    ("fit_score", F, "Weighted mean of the non-null components; null below min_weight."),
    ("band", S, "healthy, watch, at_risk or insufficient_data."),
    ("score_change_30d", F, "fit_score − fit_score 30 days earlier."),
    (
        "score_change_by_component",
        pl.Struct({c: F for c in COMPONENTS}),
        "Each component's change of weighted share; they add up to score_change_30d.",
    ),
    ("top_negative_driver", S, "The component with the most negative change."),
    ("data_confidence", S, "high, medium or low: the evidence behind the fit score."),
)
"""Every column the model computes, in order (`computed_at` is added at publication)."""


def fit_health_schema() -> pl.Schema:
    return pl.Schema({c.name: c.dtype for c in FIT_HEALTH})


RESTATEMENT_SCHEMA = pl.Schema(
    {
        "partnership_id": pl.String(),
        "as_of": pl.Date(),
        "fit_score_before": pl.Float64(),
        "fit_score_after": pl.Float64(),
        "fit_score_change": pl.Float64(),
        "band_before": pl.String(),
        "band_after": pl.String(),
        "changed_columns": pl.List(pl.String()),
    }
)
"""One row per already published partnership-day whose values a refresh changed."""
