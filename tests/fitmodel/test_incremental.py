"""Property: incremental refreshes over batches of late and early events equal a full rebuild."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from fitmodel.config import ModelConfig
from fitmodel.domain import STREAMS
from fitmodel.incremental import first_affected_day, recompute, replace_days
from fitmodel.indicators import Events
from fitmodel.score import fit_health
from tests.helpers import comm, decide, diag, meet, opened, reg, resolved, surv, table

START = date(2024, 1, 1)
CONFIG = ModelConfig(
    windows={
        "activity_days": 20,
        "survey_days": 25,
        "unscheduled_comms_days": 7,
        "trend_days": 10,
        "renewal_months": 1,  # gates within the 70 days drawn: P1 Feb 1, Mar 1; P2 Feb 6, Mar 6
    }
)
GATE_DAYS = ["2024-02-01", "2024-03-01", "2024-02-06", "2024-03-06", "2024-02-15"]  # one no gate
REGISTRY = reg(("P1", START, None), ("P2", START + timedelta(days=5), START + timedelta(days=50)))


@st.composite
def event(draw, i: int):
    day = draw(st.integers(0, 59))
    hour = draw(st.integers(0, 23))
    at = f"{START + timedelta(days=day)}T{hour:02d}:00:00Z"
    p = draw(st.sampled_from(["P1", "P2"]))
    kind = draw(
        st.sampled_from(["comm", "meet", "open", "resolve", "survey", "decision", "diagnostic"])
    )
    esc = f"E{draw(st.integers(0, 3))}"
    if kind == "comm":
        return "communications", comm(
            i, at, scheduled=draw(st.booleans()), by=draw(st.sampled_from("ab")), p=p
        )
    if kind == "meet":
        return "meetings", meet(
            i,
            at,
            kind=draw(st.sampled_from(["joint_problem_solving", "other"])),
            ideas=draw(st.integers(0, 4)),
            p=p,
        )
    if kind == "open":
        return "escalations", opened(
            i, esc, at, severity=draw(st.sampled_from(["low", "critical"])), p=p
        )
    if kind == "resolve":
        return "escalations", resolved(i, esc, at, p=p)
    scores = tuple(draw(st.integers(1, 10)) for _ in range(4))
    if kind == "decision":  # a decision for a past gate, arriving late, changes its outcome
        return "governance", decide(
            i,
            draw(st.sampled_from(GATE_DAYS)),
            draw(st.sampled_from("ab")),
            draw(st.sampled_from(["reaffirm", "restructure", "exit"])),
            at,
            p=p,
        )
    if kind == "diagnostic":
        return "governance", diag(i, at, draw(st.sampled_from("ab")), scores, p=p)
    return "surveys", surv(i, at, draw(st.sampled_from("ab")), scores, p=p)


@st.composite
def deliveries(draw):
    n = draw(st.integers(1, 30))
    events = [draw(event(i)) for i in range(n)]
    cuts = sorted(draw(st.lists(st.integers(0, n), max_size=3)))
    batches = [events[a:b] for a, b in zip([0, *cuts], [*cuts, n], strict=True)]
    as_ofs = sorted(
        draw(st.lists(st.integers(20, 70), min_size=len(batches), max_size=len(batches)))
    )
    return batches, [START + timedelta(days=d) for d in as_ofs]


def as_events(delivered) -> Events:
    return Events(*(table(s, [e for stream, e in delivered if stream == s]) for s in STREAMS))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(deliveries(), st.sampled_from([None, 1]))
def test_incremental_refresh_equals_full_rebuild(plan, chunk):
    batches, as_ofs = plan
    delivered: list = []
    current = None
    previous_as_of = None
    for batch, as_of in zip(batches, as_ofs, strict=True):
        delivered += batch
        touched = [e["occurred_at"] for _, e in batch]
        affected = min(date.fromisoformat(t[:10]) for t in touched) if touched else None
        start = first_affected_day(affected, previous_as_of)
        events = as_events(delivered)
        previous = current if current is not None else pl.LazyFrame()
        chunks = recompute(
            previous, events, REGISTRY, as_of, CONFIG, start, chunk_rows=chunk or 10**9
        )
        fresh = pl.concat(list(chunks)).lazy()
        current = replace_days(previous, fresh, start).collect().lazy()
        previous_as_of = as_of
        full = fit_health(events, REGISTRY, as_of, CONFIG)
        assert_frame_equal(current.collect(), full.collect())


def test_restatements_name_the_changed_columns_and_ignore_float_noise():
    from datetime import date

    from fitmodel.incremental import restatements

    day = date(2025, 1, 1)
    before = pl.DataFrame(
        {
            "partnership_id": ["P1", "P2", "P3"],
            "as_of": [day] * 3,
            "fit_score": [70.0, 55.0, None],
            "band": ["healthy", "watch", "insufficient_data"],
            "comms_90d": [3, 4, 0],
            "score_change_by_component": [{"survey": 1.0}, {"survey": 2.0}, None],
        }
    )
    after = before.with_columns(
        pl.Series("fit_score", [70.0 + 1e-12, 48.0, None]),
        pl.Series("band", ["healthy", "at_risk", "insufficient_data"]),
        pl.Series("comms_90d", [3, 4, 1]),
        pl.Series("score_change_by_component", [{"survey": 1.0}, {"survey": 2.5}, None]),
    )
    out = restatements(before, after)
    assert out["partnership_id"].to_list() == ["P2", "P3"]
    p2, p3 = out.row(0, named=True), out.row(1, named=True)
    assert p2["changed_columns"] == ["fit_score", "band", "score_change_by_component"]
    assert p2["fit_score_change"] == -7.0 and (p2["band_before"], p2["band_after"]) == (
        "watch",
        "at_risk",
    )
    assert p3["changed_columns"] == ["comms_90d"] and p3["fit_score_change"] is None
