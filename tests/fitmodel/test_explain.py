"""`explain`: from a fit-score move down to the events behind it."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest

from fitmodel.explain import ExplainError, explain
from fitmodel.indicators import Events
from fitmodel.score import COMPONENTS, fit_health
from tests.helpers import CONFIG, opened, reg, resolved, surv, table

AS_OF = date(2024, 3, 1)


def events() -> Events:
    return Events(
        table("meetings", []),
        table(
            "escalations",
            [
                opened(1, "E1", "2024-02-10T09:00:00Z"),
                opened(2, "E2", "2024-01-10T09:00:00Z"),
                resolved(2, "E2", "2024-01-12T09:00:00Z"),
            ],
        ),
        table("communications", []),
        table(
            "surveys",
            [
                surv(1, "2024-01-05T10:00:00Z", "a", (9, 9, 9, 9)),
                surv(2, "2024-02-20T10:00:00Z", "b", (5, 6, 8, 4)),
            ],
        ),
        table("governance", []),
    )


def test_explain_traces_the_change_to_the_survey_that_pulled_it_down():
    stream = events()
    rows = fit_health(stream, reg(("P1", date(2024, 1, 1), None)), AS_OF, CONFIG)
    result = explain(rows, stream, "P1", AS_OF, 30, CONFIG)
    published = rows.filter(pl.col("as_of") == AS_OF).collect().row(0, named=True)

    s = result.summary.row(0, named=True)
    assert (s["since"], s["as_of"]) == (date(2024, 1, 31), AS_OF)
    # Survey means 9 then 7.375 (culture 7, operations 7.5, strategy 8.5, trust 6.5).
    assert s["fit_score"] == pytest.approx(published["fit_score"])
    assert s["change"] == pytest.approx(published["score_change_30d"])
    by_component = dict(result.components.select("component", "change").iter_rows())
    assert by_component == pytest.approx(published["score_change_by_component"])
    assert sum(by_component.values()) == pytest.approx(s["change"])
    assert result.components["component"][0] == "survey" == published["top_negative_driver"]

    assert result.drivers == ["survey", "open escalations"]
    survey = result.evidence["survey"]
    assert survey.select("event_id", "lowest", "status").rows() == [
        ("s1", 9.0, "in window now"),
        ("s2", 4.0, "in window now"),
    ]
    assert result.notes["survey"] == "2 response(s) in the 120-day window; 1 with a corner below 7"
    still_open = result.evidence["open escalations"]
    assert still_open.select("open_event_id", "escalation_id", "open_days").rows() == [
        ("o1", "E1", 20)
    ]


def test_explain_over_another_period_and_for_the_latest_row_by_default():
    stream = events()
    rows = fit_health(stream, reg(("P1", date(2024, 1, 1), None)), AS_OF, CONFIG)
    latest = explain(rows, stream, "P1", config=CONFIG, days=10)
    assert latest.as_of == AS_OF and latest.since == date(2024, 2, 20)
    # 2024-02-20 is the day s2 arrived: nothing changed since.
    assert latest.evidence == {"open escalations": latest.evidence["open escalations"]}
    assert set(latest.components["component"]) == set(COMPONENTS)
    with pytest.raises(ExplainError, match="no fit-health rows for partnership 'P9'"):
        explain(rows, stream, "P9", config=CONFIG)
    with pytest.raises(ExplainError, match="no fit-health row for 'P1' on 2023-01-01"):
        explain(rows, stream, "P1", date(2023, 1, 1), config=CONFIG)


def test_every_component_can_be_traced_to_its_events():
    from tests.helpers import comm, meet

    stream = Events(
        table("meetings", [meet(1, "2024-01-15T10:00:00Z", ideas=6)]),
        table(
            "escalations",
            [
                opened(1, "E1", "2024-02-10T09:00:00Z"),
                resolved(1, "E1", "2024-02-12T09:00:00Z"),
                opened(2, "E2", "2024-05-01T09:00:00Z"),
            ],
        ),
        table(
            "communications",
            [comm(i, "2024-02-15T10:00:00Z", by="ab"[i % 2]) for i in range(10)]
            + [comm(100 + i, "2024-05-20T10:00:00Z", scheduled=True) for i in range(4)],
        ),
        table(
            "surveys",
            [
                surv(1, "2024-02-01T10:00:00Z", "a", (9, 9, 9, 9)),
                surv(2, "2024-05-01T10:00:00Z", "a", (5, 5, 5, 5)),
            ],
        ),
        table("governance", []),
    )
    as_of = date(2024, 6, 1)
    rows = fit_health(stream, reg(("P1", date(2024, 1, 1), None)), as_of, CONFIG)
    result = explain(rows, stream, "P1", as_of, 100, CONFIG, drivers=6)
    assert set(result.drivers) == set(COMPONENTS)
    assert result.evidence["innovation"].select("event_id", "ideas_generated", "status").rows() == [
        ("m1", 6, "left the window")
    ]
    assert result.notes["innovation"] == "ideas in 90 days: 6 then, 0 now"
    assert result.notes["collaboration"].endswith("1/1 then, 0/1 now")
    escalations = result.evidence["responsiveness"].select("escalation_id", "status").rows()
    assert escalations == [("E1", "left the window"), ("E2", "open")]
    assert result.notes["engagement"] == (
        "unscheduled communications per week: 2.50 then, 0.00 now"
    )
    assert (
        result.notes["balance"] == "communications initiated by a/b in 90 days: 5/5 then, 4/0 now"
    )
    assert result.evidence["survey"]["event_id"].to_list() == ["s1", "s2"]
