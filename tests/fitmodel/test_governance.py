"""Golden tests of the SPEC §9 columns: every value below was worked out by hand."""

from __future__ import annotations

from datetime import date

import pytest

from fitmodel.config import ModelConfig
from tests.helpers import at, decide, diag, reg, run

LEAP = reg(("P1", date(2024, 2, 29), None))


def test_gates_are_counted_from_started_on_each_time_with_month_ends_clamped():
    rows = run(date(2025, 9, 1), registry=LEAP)
    assert at(rows, date(2024, 8, 28))["last_gate_on"] is None
    assert at(rows, date(2024, 8, 28))["days_since_last_gate"] is None
    assert at(rows, date(2024, 8, 28))["last_gate_outcome"] is None
    assert at(rows, date(2024, 8, 29))["last_gate_on"] == date(2024, 8, 29)
    assert at(rows, date(2024, 8, 29))["days_since_last_gate"] == 0
    assert at(rows, date(2025, 2, 27))["last_gate_on"] == date(2024, 8, 29)
    assert at(rows, date(2025, 2, 27))["days_since_last_gate"] == 182
    assert at(rows, date(2025, 2, 28))["last_gate_on"] == date(2025, 2, 28)  # clamped
    assert at(rows, date(2025, 8, 29))["last_gate_on"] == date(2025, 8, 29)  # not chained
    # From a 31st: 2024-08-31 + 6 months is 2025-02-28, + 12 months 2025-08-31.
    rows = run(date(2025, 9, 1), registry=reg(("P1", date(2024, 8, 31), None)))
    assert at(rows, date(2025, 3, 1))["last_gate_on"] == date(2025, 2, 28)
    assert at(rows, date(2025, 8, 30))["last_gate_on"] == date(2025, 2, 28)
    assert at(rows, date(2025, 8, 31))["last_gate_on"] == date(2025, 8, 31)
    # The renewal window comes from the configuration.
    quarterly = ModelConfig(windows={"renewal_months": 3})
    rows = run(date(2024, 12, 1), registry=LEAP, config=quarterly)
    assert at(rows, date(2024, 6, 1))["last_gate_on"] == date(2024, 5, 29)


G1 = "2024-08-29"


@pytest.mark.parametrize(
    ("decisions", "outcome"),
    [
        ([], "unconfirmed"),
        ([("a", "reaffirm")], "unconfirmed"),  # one side alone
        ([("a", "reaffirm"), ("b", "reaffirm")], "reaffirmed"),
        ([("a", "reaffirm"), ("b", "restructure")], "restructured"),
        ([("a", "restructure"), ("b", "exit")], "exited"),
        ([("b", "exit")], "exited"),
    ],
)
def test_each_outcome_rule(decisions, outcome):
    events = [
        decide(i, G1, side, choice, "2024-08-20T10:00:00Z")
        for i, (side, choice) in enumerate(decisions)
    ]
    rows = run(date(2024, 9, 5), registry=LEAP, governance=events)
    assert at(rows, date(2024, 9, 1))["last_gate_outcome"] == outcome


def test_the_latest_decision_stands_ties_to_the_greatest_event_id_and_only_when_dated():
    events = [
        decide(1, G1, "a", "exit", "2024-08-01T10:00:00Z"),
        decide(2, G1, "a", "reaffirm", "2024-08-30T10:00:00Z"),  # a changes its mind
        decide(3, G1, "b", "restructure", "2024-08-31T09:00:00Z"),
        decide(4, G1, "b", "reaffirm", "2024-08-31T09:00:00Z"),  # same instant: g4 > g3
        decide(5, G1, "b", "exit", "2024-09-10T10:00:00Z"),  # dated after the days below
        decide(6, "2024-08-30", "a", "exit", "2024-08-20T10:00:00Z"),  # not a gate: nowhere
    ]
    rows = run(date(2024, 9, 12), registry=LEAP, governance=events)
    assert at(rows, date(2024, 8, 29))["last_gate_outcome"] == "exited"  # a's exit of Aug 1
    assert at(rows, date(2024, 8, 30))["last_gate_outcome"] == "unconfirmed"  # a reaffirms
    assert at(rows, date(2024, 8, 31))["last_gate_outcome"] == "reaffirmed"  # b: g4
    assert at(rows, date(2024, 9, 9))["last_gate_outcome"] == "reaffirmed"
    assert at(rows, date(2024, 9, 10))["last_gate_outcome"] == "exited"  # b's later exit


def test_a_gate_on_ended_on_has_its_row_and_a_gate_after_as_of_none():
    ended = reg(("P1", date(2024, 2, 29), date(2024, 8, 29)))
    events = [decide(1, G1, "a", "exit", "2024-08-29T10:00:00Z")]
    rows = run(date(2024, 12, 1), registry=ended, governance=events)
    assert rows["as_of"].max() == date(2024, 8, 29)
    assert at(rows, date(2024, 8, 29))["last_gate_outcome"] == "exited"
    rows = run(date(2024, 8, 28), registry=LEAP, governance=events)
    assert rows["last_gate_on"].null_count() == rows.height


def test_the_diagnostic_is_each_sides_latest_response_averaged_with_no_window():
    events = [
        diag(1, "2024-03-01T10:00:00Z", "a", (9, 4, 8, 8)),
        diag(2, "2024-03-05T10:00:00Z", "b", (7, 6, 6, 10)),
        diag(3, "2025-01-10T10:00:00Z", "a", (9, 9, 9, 9)),  # replaces a's
        diag(5, "2025-01-10T10:00:00Z", "a", (2, 9, 9, 9)),  # same instant: d5 > d3 stands
    ]
    rows = run(date(2025, 2, 1), registry=LEAP, governance=events)
    none = at(rows, date(2024, 2, 29))
    assert none["strategic_importance"] is None and none["diagnostic_below_7"] is False
    one = at(rows, date(2024, 3, 2))  # side a alone
    assert (one["strategic_importance"], one["replaceability"]) == (9.0, 4.0)
    assert one["diagnostic_below_7"] is True
    both = at(rows, date(2024, 12, 31))  # nine months later: no window
    assert (both["strategic_importance"], both["replaceability"]) == (8.0, 5.0)
    assert (both["integration_depth"], both["risk_symmetry"]) == (7.0, 9.0)
    assert both["diagnostic_below_7"] is True  # replaceability 5 < 7
    later = at(rows, date(2025, 1, 10))
    assert later["strategic_importance"] == pytest.approx((2 + 7) / 2)
    # The threshold is the configuration's corner_threshold.
    lenient = ModelConfig(corner_threshold=4)
    rows = run(date(2025, 2, 1), registry=LEAP, governance=events, config=lenient)
    assert at(rows, date(2024, 12, 31))["diagnostic_below_7"] is False


def test_governance_events_count_as_events_for_days_since_last_event():
    events = [diag(1, "2024-03-01T10:00:00Z", "a", (9, 9, 9, 9))]
    rows = run(date(2024, 3, 11), registry=LEAP, governance=events)
    assert at(rows, date(2024, 3, 11))["days_since_last_event"] == 10
