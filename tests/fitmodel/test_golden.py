"""Golden tests of the fit model: every value below was worked out by hand from SPEC §3–§5."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from fitmodel.config import ModelConfig
from fitmodel.score import COMPONENTS, FIT_HEALTH_COLUMNS
from tests.helpers import at, comm, meet, opened, reg, resolved, run, surv


def test_rows_cover_started_on_to_min_of_ended_on_and_as_of_even_without_events():
    out = run(
        date(2024, 1, 10),
        reg(
            ("P1", date(2024, 1, 5), None),
            ("P2", date(2024, 1, 1), date(2024, 1, 3)),
            ("P3", date(2024, 2, 1), None),
        ),
    )
    assert out.columns == FIT_HEALTH_COLUMNS
    assert out.group_by("partnership_id").agg(
        pl.col("as_of").min().alias("first"), pl.col("as_of").max().alias("last"), pl.len()
    ).sort("partnership_id").rows() == [
        ("P1", date(2024, 1, 5), date(2024, 1, 10), 6),
        ("P2", date(2024, 1, 1), date(2024, 1, 3), 3),
    ]
    row = at(out, date(2024, 1, 5))
    assert row["comms_90d"] == 0 and row["days_since_last_event"] is None
    assert row["comms_balance_90d"] is None and row["fit_score"] is None
    assert row["band"] == "insufficient_data" and row["weakest_corner"] is None
    assert row["corner_below_7"] is False and row["ratio_below_3"] is False


def test_window_edges_are_inclusive_and_dates_are_utc():
    # 2024-01-01T23:30-02:00 is 2024-01-02T01:30Z: its date is Jan 2.
    comms = [comm(1, "2024-01-01T23:30:00-02:00"), comm(2, "2024-01-05T12:00:00Z", by="b")]
    out = run(date(2024, 5, 1), comms=comms)
    assert at(out, date(2024, 1, 1))["comms_90d"] == 0
    assert at(out, date(2024, 1, 2))["comms_90d"] == 1
    # Trailing 90 days at d = [d-89, d]: Jan 2 counts through Mar 31 (2024 is a leap year).
    assert at(out, date(2024, 3, 31))["comms_90d"] == 2
    assert at(out, date(2024, 4, 1))["comms_90d"] == 1
    # 28-day window for unscheduled comms, divided by 4.
    assert at(out, date(2024, 1, 29))["unscheduled_comms_per_week"] == 0.5
    assert at(out, date(2024, 1, 30))["unscheduled_comms_per_week"] == 0.25
    row = at(out, date(2024, 1, 10))
    assert row["comms_balance_90d"] == 1.0  # one each side
    assert row["days_since_last_event"] == 5


def test_communication_balance_and_scheduled_comms():
    comms = [
        comm(1, "2024-01-02T10:00:00Z"),
        comm(2, "2024-01-02T11:00:00Z"),
        comm(3, "2024-01-02T12:00:00Z"),
        comm(4, "2024-01-03T12:00:00Z", by="b", scheduled=True),
    ]
    row = at(run(date(2024, 1, 3), comms=comms), date(2024, 1, 3))
    assert row["comms_90d"] == 4
    assert row["comms_balance_90d"] == pytest.approx(1 - 2 / 4)
    assert row["unscheduled_comms_per_week"] == 0.75


def test_meetings_ideas_and_the_problem_solving_ratio():
    meetings = [
        meet(1, "2024-01-02T10:00:00Z", ideas=2),
        meet(2, "2024-01-03T10:00:00Z", ideas=3),
        meet(3, "2024-01-03T11:00:00Z", kind="check_in", ideas=1),
    ]
    escalations = [opened(1, "E1", "2024-01-03T09:00:00Z", severity="critical")]
    row = at(run(date(2024, 1, 4), meetings=meetings, escalations=escalations), date(2024, 1, 4))
    assert (row["meetings_90d"], row["problem_solving_90d"], row["ideas_90d"]) == (3, 2, 6)
    assert (row["escalations_90d"], row["critical_escalations_90d"]) == (1, 1)
    assert row["ps_escalation_ratio_90d"] == 2.0 and row["ratio_below_3"] is True
    assert row["collaboration_score"] == pytest.approx(100 * 2 / 6)
    assert row["innovation_score"] == 100.0


def test_escalation_pairing_open_and_oldest():
    escalations = [
        # E1 opened twice: the earliest open counts (severity low), ties broken by event_id.
        opened(2, "E1", "2024-01-02T10:00:00Z", severity="critical"),
        opened(1, "E1", "2024-01-02T10:00:00Z", severity="low"),
        # A resolution before the open does not resolve it; the earliest one after it does.
        resolved(1, "E1", "2024-01-01T10:00:00Z"),
        resolved(2, "E1", "2024-01-06T10:00:00Z"),
        resolved(3, "E1", "2024-01-05T22:00:00Z"),
        # E2 open across the end; E3 resolved with no open counts nowhere.
        opened(3, "E2", "2024-01-04T08:00:00Z"),
        resolved(4, "E3", "2024-01-03T08:00:00Z"),
    ]
    out = run(date(2024, 1, 8), escalations=escalations)
    day = {d: at(out, date(2024, 1, d)) for d in range(1, 9)}
    assert [day[d]["open_escalations"] for d in range(1, 9)] == [0, 1, 1, 2, 1, 1, 1, 1]
    assert [day[d]["oldest_open_escalation_days"] for d in range(1, 9)] == [
        None,
        0,
        1,
        2,
        1,
        2,
        3,
        4,
    ]
    assert day[8]["escalations_90d"] == 2 and day[8]["critical_escalations_90d"] == 0
    # E1 resolved 2024-01-05T22:00 after opening 2024-01-02T10:00: 3.5 days.
    assert day[4]["median_resolution_days_90d"] is None
    assert day[5]["median_resolution_days_90d"] == 3.5
    # The orphan resolution is still an event for days_since_last_event.
    assert day[3]["days_since_last_event"] == 0


def test_median_resolution_even_count_and_window_exit():
    escalations = [
        opened(1, "E1", "2024-01-01T00:00:00Z"),
        resolved(1, "E1", "2024-01-02T00:00:00Z"),
        opened(2, "E2", "2024-01-01T00:00:00Z"),
        resolved(2, "E2", "2024-01-04T00:00:00Z"),
        opened(3, "E3", "2024-01-01T00:00:00Z"),
        resolved(3, "E3", "2024-01-07T00:00:00Z"),
        opened(4, "E4", "2024-01-01T00:00:00Z"),
        resolved(4, "E4", "2024-01-11T00:00:00Z"),
    ]
    out = run(date(2024, 4, 30), escalations=escalations)
    assert at(out, date(2024, 1, 11))["median_resolution_days_90d"] == (3 + 6) / 2
    assert at(out, date(2024, 1, 7))["median_resolution_days_90d"] == 3.0
    # E1 (resolved Jan 2) leaves the window on Apr 1 = Jan 2 + 90 days.
    assert at(out, date(2024, 3, 31))["median_resolution_days_90d"] == 4.5
    assert at(out, date(2024, 4, 1))["median_resolution_days_90d"] == 6.0
    assert at(out, date(2024, 4, 10))["median_resolution_days_90d"] is None
    # Responsiveness: median 4.5 days → 100 × (4.5 − 30)/(2 − 30).
    assert at(out, date(2024, 3, 31))["responsiveness_score"] == pytest.approx(100 * 25.5 / 28)


def test_surveys_corners_side_gap_and_weakest_with_ties():
    surveys = [
        surv(1, "2024-01-02T10:00:00Z", "a", (8, 6, 6, 9)),
        surv(2, "2024-01-03T10:00:00Z", "a", (6, 6, 8, 7)),
        surv(3, "2024-01-04T10:00:00Z", "b", (4, 4, 4, 4)),
    ]
    out = run(date(2024, 5, 30), surveys=surveys)
    row = at(out, date(2024, 1, 3))
    assert (row["culture"], row["operations"], row["strategy"], row["trust"]) == (7, 6, 7, 8)
    assert row["weakest_corner"] == "operations" and row["corner_below_7"] is True
    assert row["side_gap"] is None  # only side a so far
    row = at(out, date(2024, 1, 4))
    assert row["culture"] == pytest.approx(6) and row["operations"] == pytest.approx(16 / 3)
    assert row["strategy"] == pytest.approx(6) and row["survey_responses_120d"] == 3
    # Side a: mean of (7.25, 6.75) = 7; side b: 4.
    assert row["side_gap"] == pytest.approx(3.0)
    # Jan 2 response leaves the 120-day window on May 1.
    assert at(out, date(2024, 4, 30))["survey_responses_120d"] == 3
    assert at(out, date(2024, 5, 1))["survey_responses_120d"] == 2
    tie = run(date(2024, 1, 2), surveys=[surv(1, "2024-01-02T10:00:00Z", "a", (7, 9, 7, 7))])
    assert at(tie, date(2024, 1, 2))["weakest_corner"] == "culture"
    assert at(tie, date(2024, 1, 2))["corner_below_7"] is False


def test_fit_score_weights_bands_and_the_half_weight_rule():
    # Activity alone: collaboration 0.20 + engagement 0.10 + innovation 0.10 (+ balance 0.05
    # once there are comms) never reaches 0.5, so there is no score.
    comms = [comm(i, "2024-01-02T10:00:00Z", by="ab"[i % 2]) for i in range(20)]
    row = at(run(date(2024, 1, 2), comms=comms), date(2024, 1, 2))
    assert row["engagement_score"] == 100.0 and row["collaboration_score"] == 0.0
    assert row["fit_score"] is None and row["band"] == "insufficient_data"
    # A survey adds 0.40: survey 100, collaboration 0, engagement 0, innovation 0 → 40 / 0.8.
    surveys = [surv(1, "2024-01-02T10:00:00Z", "a", (10, 10, 10, 10))]
    row = at(run(date(2024, 1, 2), surveys=surveys), date(2024, 1, 2))
    assert row["survey_score"] == 100.0 and row["fit_score"] == pytest.approx(50.0)
    assert row["band"] == "watch" and row["balance_score"] is None
    # With 20 balanced unscheduled comms: (40 + 0 + 10 + 0 + 5) / 0.85.
    row = at(run(date(2024, 1, 2), surveys=surveys, comms=comms), date(2024, 1, 2))
    assert row["balance_score"] == 100.0
    assert row["fit_score"] == pytest.approx(55 / 0.85) and row["band"] == "watch"
    low = [surv(1, "2024-01-02T10:00:00Z", "a", (4, 4, 4, 4))]
    row = at(run(date(2024, 1, 2), surveys=low, comms=comms), date(2024, 1, 2))
    assert row["survey_score"] == pytest.approx(100 / 3)
    assert row["fit_score"] == pytest.approx((0.4 * 100 / 3 + 15) / 0.85)
    assert row["band"] == "at_risk"
    # A resolved escalation (responsiveness 0.15) lets activity alone reach 0.6.
    escalations = [
        opened(1, "E1", "2024-01-01T00:00:00Z"),
        resolved(1, "E1", "2024-01-03T00:00:00Z"),
    ]
    row = at(
        run(
            date(2024, 1, 3),
            escalations=escalations,
            meetings=[meet(1, "2024-01-03T01:00:00Z", ideas=6)],
        ),
        date(2024, 1, 3),
    )
    # collaboration 1/1 → 16.67, responsiveness 2 days → 100, engagement 0, innovation 100.
    assert row["fit_score"] == pytest.approx((0.2 * 100 / 6 + 15 + 0 + 10) / 0.55)
    healthy = ModelConfig(bands={"healthy": 40, "watch": 20})
    row = at(run(date(2024, 1, 2), surveys=surveys, config=healthy), date(2024, 1, 2))
    assert row["band"] == "healthy"


def test_score_change_30d_and_drivers_add_up():
    surveys = [
        surv(1, "2024-01-01T10:00:00Z", "a", (10, 10, 10, 10)),
        surv(2, "2024-01-31T10:00:00Z", "a", (1, 1, 1, 1)),
    ]
    comms = [comm(i, "2024-01-01T10:00:00Z", by="ab"[i % 2]) for i in range(20)]
    out = run(date(2024, 1, 31), surveys=surveys, comms=comms)
    assert at(out, date(2024, 1, 30))["score_change_30d"] is None  # no row at d − 30
    row = at(out, date(2024, 1, 31))
    then = at(out, date(2024, 1, 1))
    assert row["score_change_30d"] == pytest.approx(row["fit_score"] - then["fit_score"])
    parts = row["score_change_by_component"]
    assert list(parts) == list(COMPONENTS)
    assert sum(v for v in parts.values()) == pytest.approx(row["score_change_30d"])
    assert row["top_negative_driver"] == "survey"
    assert then["top_negative_driver"] is None
    assert all(v is None for v in then["score_change_by_component"].values())


def test_next_renewal_gate_clamps_month_ends():
    out = run(
        date(2025, 3, 1), reg(("P1", date(2024, 2, 29), None), ("P2", date(2023, 8, 31), None))
    )
    assert at(out, date(2024, 2, 29))["next_renewal_gate"] == date(2024, 8, 29)
    assert at(out, date(2024, 8, 29))["next_renewal_gate"] == date(2024, 8, 29)
    assert at(out, date(2024, 8, 30))["next_renewal_gate"] == date(2025, 2, 28)
    # From 2023-08-31: +6 months is 2024-02-29 (clamped), +12 is 2024-08-31.
    assert at(out, date(2024, 1, 15), "P2")["next_renewal_gate"] == date(2024, 2, 29)
    assert at(out, date(2024, 3, 1), "P2")["next_renewal_gate"] == date(2024, 8, 31)


def test_only_events_up_to_d_and_ended_on_count():
    comms = [comm(1, "2024-01-05T10:00:00Z"), comm(2, "2024-01-20T10:00:00Z")]
    out = run(date(2024, 1, 30), reg(("P1", date(2024, 1, 1), date(2024, 1, 10))), comms=comms)
    assert out["as_of"].max() == date(2024, 1, 10)
    assert at(out, date(2024, 1, 4))["comms_90d"] == 0
    assert at(out, date(2024, 1, 10))["comms_90d"] == 1


def test_events_before_started_on_count_in_windows():
    comms = [comm(1, "2023-12-20T10:00:00Z")]
    out = run(date(2024, 1, 2), comms=comms)
    row = at(out, date(2024, 1, 1))
    assert row["comms_90d"] == 1 and row["days_since_last_event"] == 12


def test_driver_ties_go_to_the_first_component():
    # Survey falls from 100 to 50 (share −0.4·50/0.8 = −25); collaboration from 100 to 0 as the
    # six problem-solving meetings leave a 10-day window (share −0.2·100/0.8 = −25): a tie.
    config = ModelConfig(windows={"activity_days": 10})
    surveys = [
        surv(1, "2024-01-01T10:00:00Z", "a", (10, 10, 10, 10)),
        surv(2, "2024-01-31T10:00:00Z", "a", (1, 1, 1, 1)),
    ]
    meetings = [meet(i, "2024-01-01T10:00:00Z") for i in range(6)]
    out = run(date(2024, 1, 31), surveys=surveys, meetings=meetings, config=config)
    row = at(out, date(2024, 1, 31))
    parts = row["score_change_by_component"]
    assert parts["survey"] == pytest.approx(-25) and parts["collaboration"] == pytest.approx(-25)
    assert row["top_negative_driver"] == "survey"


def test_data_confidence_from_components_present_and_survey_recency():
    survey = [surv(1, "2024-01-10T10:00:00Z", "a", (8, 8, 8, 8))]
    comms = [comm(i, "2024-01-10T10:00:00Z", by="ab"[i % 2]) for i in range(4)]
    escalations = [
        opened(1, "E1", "2024-01-08T00:00:00Z"),
        resolved(1, "E1", "2024-01-09T00:00:00Z"),
    ]
    # survey + collaboration + engagement + innovation: 4 components, a fresh survey → medium.
    rows = run(date(2024, 6, 1), surveys=survey)
    assert at(rows, date(2024, 1, 10))["data_confidence"] == "medium"
    assert at(rows, date(2024, 1, 9))["data_confidence"] == "low"  # no score yet
    # With balance (comms) as fifth: high while the survey is at most 90 days old
    # (2024-01-10 + 89 = 2024-04-08), medium while in its 120-day window, then low.
    rows = run(date(2024, 6, 1), surveys=survey, comms=comms)
    assert at(rows, date(2024, 4, 8))["data_confidence"] == "high"
    assert at(rows, date(2024, 4, 9))["data_confidence"] == "medium"
    assert at(rows, date(2024, 5, 8))["data_confidence"] == "medium"
    # 2024-05-09: survey out of its window; balance out on 2024-04-09 (90 days): no score.
    assert at(rows, date(2024, 5, 9))["fit_score"] is None
    assert at(rows, date(2024, 5, 9))["data_confidence"] == "low"
    # No survey, but responsiveness and balance: a score from 5 activity components → medium;
    # without balance, 4 components (weight 0.55) → low.
    rows = run(date(2024, 1, 10), escalations=escalations, comms=comms)
    assert at(rows, date(2024, 1, 10))["data_confidence"] == "medium"
    rows = run(date(2024, 1, 10), escalations=escalations)
    assert at(rows, date(2024, 1, 10))["fit_score"] is not None
    assert at(rows, date(2024, 1, 10))["data_confidence"] == "low"
    # The recency is configurable.
    strict = ModelConfig(recent_survey_days=30)
    rows = run(date(2024, 6, 1), surveys=survey, comms=comms, config=strict)
    assert at(rows, date(2024, 2, 8))["data_confidence"] == "high"
    assert at(rows, date(2024, 2, 9))["data_confidence"] == "medium"
