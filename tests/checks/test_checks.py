"""Every check made to fail by an injected defect, on a few rows and no refresh; and every
blocking check shown to stop publication in a real (in-process) refresh."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from checks.alerts import audit_alerts
from checks.events import audit_events
from checks.fit_health import CHECKS, audit_candidate
from fitmodel.config import ModelConfig
from fitmodel.planning import Plan
from tests.helpers import comm, meet, opened, reg, resolved, run, surv, table

AS_OF = date(2024, 3, 31)
MODEL = ModelConfig()
PLAN = Plan(AS_OF, None, "rebuild", None, "h", "m")
REGISTRY = reg(("P1", date(2024, 1, 1), None), ("P2", date(2024, 2, 1), None))


def candidate() -> pl.DataFrame:
    rows = run(
        AS_OF,
        registry=REGISTRY,
        comms=[comm(i, f"2024-03-{1 + i:02d}T10:00:00Z", by="ab"[i % 2]) for i in range(20)],
        meetings=[meet(1, "2024-03-02T10:00:00Z", ideas=3)],
        escalations=[
            opened(1, "E1", "2024-03-01T09:00:00Z"),
            resolved(1, "E1", "2024-03-03T09:00:00Z"),
        ],
        surveys=[surv(1, "2024-03-05T10:00:00Z", "a", (8, 7, 6, 9), p="P2")],
    )
    return rows.with_columns(pl.lit(datetime(2024, 4, 1, tzinfo=UTC)).alias("computed_at"))


def failed(rows, plan=PLAN, published=None) -> set[str]:
    published = (
        published
        if published is not None
        else pl.LazyFrame(schema={"partnership_id": pl.String(), "as_of": pl.Date()})
    )
    results = audit_candidate(rows, plan, REGISTRY.collect(), published, MODEL)
    assert {r.check_name for r in results} == {c.name for c in CHECKS}
    return {r.check_name for r in results if not r.passed}


def test_a_sound_candidate_passes_every_check():
    assert failed(candidate()) == set()


def _row(rows, p, day):
    return (pl.col("partnership_id") == p) & (pl.col("as_of") == day)


DEFECTS = {
    "fit_health_one_row_per_partnership_day": lambda r: pl.concat([r, r.head(1)]),
    "fit_health_scores_between_0_and_100": lambda r: r.with_columns(
        pl.when(_row(r, "P2", AS_OF))
        .then(150.0)
        .otherwise(pl.col("survey_score"))
        .alias("survey_score")
    ),
    "fit_health_scores_are_numbers": lambda r: r.with_columns(
        pl.when(_row(r, "P2", AS_OF))
        .then(float("nan"))
        .otherwise(pl.col("fit_score"))
        .alias("fit_score")
    ),
    "fit_health_band_matches_fit_score": lambda r: r.with_columns(
        pl.when(_row(r, "P2", AS_OF))
        .then(pl.lit("healthy"))
        .otherwise(pl.col("band"))
        .alias("band")
    ),
    "fit_health_fit_score_matches_components": lambda r: r.with_columns(
        pl.when(_row(r, "P2", AS_OF))
        .then(pl.col("fit_score") - 1)
        .otherwise(pl.col("fit_score"))
        .alias("fit_score")
    ),
    "fit_health_no_missing_days": lambda r: r.filter(~_row(r, "P1", date(2024, 2, 10))),
    "fit_health_covers_as_of": lambda r: r.filter(~_row(r, "P1", AS_OF)),
}


@pytest.mark.parametrize("check", list(DEFECTS))
def test_each_candidate_check_fails_on_its_defect(check):
    assert check in failed(DEFECTS[check](candidate()))


def test_a_candidate_that_drops_a_published_partnership_fails():
    rows = candidate()
    published = rows.select("partnership_id", "as_of").lazy()
    assert failed(rows, published=published) == set()
    assert failed(rows.filter(pl.col("partnership_id") != "P2"), published=published) >= {
        "fit_health_keeps_published_partnerships"
    }
    # Incremental: a partnership with rows before the replaced days is kept.
    incremental = Plan(AS_OF, date(2024, 3, 20), "incremental", None, "h", "m")
    later = rows.filter(pl.col("as_of") >= date(2024, 3, 20))
    assert "fit_health_keeps_published_partnerships" not in failed(
        later.filter(pl.col("partnership_id") != "P2"), incremental, published
    ) - {"fit_health_no_missing_days", "fit_health_covers_as_of"}


def _alert(pid, rule, opened_on, status="open"):
    return {
        "alert_id": f"{pid}:{rule}:{opened_on}",
        "partnership_id": pid,
        "rule": rule,
        "severity": "warning",
        "opened_on": opened_on,
        "resolved_on": None if status == "open" else opened_on + timedelta(days=1),
        "last_seen_on": opened_on,
        "status": status,
        "owner": "o",
        "name": "n",
        "explanation": "x",
    }


def test_the_alerts_checks_fail_on_their_defects():
    from fitmodel.alerts import ALERT_SCHEMA

    registry = REGISTRY.collect()
    good = pl.DataFrame([_alert("P1", "at_risk", AS_OF)], schema=ALERT_SCHEMA)
    assert all(r.passed for r in audit_alerts(good, registry))
    twice = pl.DataFrame(
        [_alert("P1", "at_risk", AS_OF), _alert("P1", "at_risk", AS_OF - timedelta(days=3))],
        schema=ALERT_SCHEMA,
    )
    stranger = pl.DataFrame([_alert("P9", "at_risk", AS_OF)], schema=ALERT_SCHEMA)
    failing = {r.check_name for r in audit_alerts(twice, registry) if not r.passed}
    assert failing == {"alerts_one_open_episode_per_partnership_and_rule"}
    failing = {r.check_name for r in audit_alerts(stranger, registry) if not r.passed}
    assert failing == {"alerts_open_alerts_refer_to_registered_partnerships"}


def _events(rows: list[dict], ingested: datetime) -> pl.LazyFrame:
    frame = table("meetings", rows).collect()
    return frame.with_columns(pl.lit(ingested).cast(pl.Datetime("us", "UTC")).alias("ingested_at"))


def test_the_event_checks_fail_on_their_defects():
    at = datetime(2024, 3, 2, tzinfo=UTC)
    good = [meet(1, "2024-03-01T10:00:00Z"), meet(2, "2024-03-01T11:00:00Z")]

    def failing(frame: pl.DataFrame) -> set[str]:
        results = audit_events(frame.lazy(), "meetings", tolerance_days=1)
        return {r.check_name for r in results if not r.passed}

    assert failing(_events(good, at)) == set()
    bad_value = [meet(1, "2024-03-01T10:00:00Z", kind="party")]
    assert failing(_events(bad_value, at)) == {"meeting_events_valid_values"}
    future = [meet(1, "2024-03-05T10:00:00Z")]
    assert failing(_events(future, at)) == {"meeting_events_no_future_timestamps"}
    # An id stored by an earlier ingest and again by the newest one.
    earlier = _events([meet(1, "2024-03-01T10:00:00Z")], at - timedelta(days=1))
    again = pl.concat([earlier, _events([meet(1, "2024-03-01T10:00:00Z")], at)])
    assert failing(again) == {"meeting_events_unique_event_id"}


def test_the_renewal_checks_fail_on_their_defects():
    from checks.renewals import audit_renewals
    from fitmodel.validation import gates_schema, validation, validation_schema

    gates = pl.DataFrame(
        [
            {"partnership_id": "P1", "gate_on": date(2024, 7, 1), "decision_a": "reaffirm",
             "decision_b": "reaffirm", "outcome": "reaffirmed", "fit_score_30d_before": 80.0,
             "band_30d_before": "healthy"},
            {"partnership_id": "P2", "gate_on": date(2024, 7, 1), "decision_a": "exit",
             "decision_b": None, "outcome": "exited", "fit_score_30d_before": 40.0,
             "band_30d_before": "at_risk"},
        ],
        schema=gates_schema([30]),
    )  # fmt: skip
    from fitmodel.alerts import ALERT_SCHEMA

    table = validation(gates, pl.DataFrame(schema=ALERT_SCHEMA), [30], AS_OF)
    assert table.schema == validation_schema()

    def failing(g, v) -> set[str]:
        return {r.check_name for r in audit_renewals(g, v) if not r.passed}

    assert failing(gates, table) == set()
    assert failing(pl.concat([gates, gates.head(1)]), table) == {
        "renewal_gates_one_row_per_partnership_and_gate"
    }
    wrong = gates.with_columns(pl.lit("reaffirmed").alias("outcome"))
    assert failing(wrong, table) == {"renewal_gates_outcome_matches_the_standing_decisions"}
    assert failing(gates, table.with_columns(pl.col("failures") + 1)) == {
        "validation_counts_add_up"
    }
    assert failing(gates, table.with_columns(pl.lit(float("nan")).alias("auc"))) == {
        "validation_auc_between_0_and_1"
    }
    assert failing(gates, table.with_columns(pl.lit(-0.1).alias("auc"))) == {
        "validation_auc_between_0_and_1"
    }
