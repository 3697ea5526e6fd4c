"""Golden tests of the renewal gates and the validation figures (SPEC §10), by hand."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest

from fitmodel.alerts import ALERT_SCHEMA
from fitmodel.governance import decisions
from fitmodel.validation import auc, gates, gates_schema, renewal_gates, validation
from tests.helpers import decide, reg, table

AS_OF = date(2025, 9, 1)


def test_the_gates_of_each_partnership_through_min_of_ended_on_and_as_of():
    registry = reg(
        ("P1", date(2024, 2, 29), None),
        ("P2", date(2024, 2, 29), date(2025, 2, 28)),  # a gate exactly on ended_on
        ("P3", date(2025, 8, 1), None),  # no gate yet
    )
    rows = gates(registry, AS_OF, 6).collect().sort("partnership_id", "gate_on")
    assert rows.rows() == [
        ("P1", date(2024, 8, 29)),
        ("P1", date(2025, 2, 28)),
        ("P1", date(2025, 8, 29)),
        ("P2", date(2024, 8, 29)),
        ("P2", date(2025, 2, 28)),
    ]


def test_a_gates_row_holds_the_standing_decisions_and_the_scores_before_it():
    gate_rows = pl.DataFrame(
        {"partnership_id": ["P1", "P1"], "gate_on": [date(2024, 8, 29), date(2025, 2, 28)]}
    )
    events = table(
        "governance",
        [
            decide(1, "2024-08-29", "a", "exit", "2024-08-01T10:00:00Z"),
            decide(2, "2024-08-29", "a", "reaffirm", "2024-09-02T10:00:00Z"),  # stands for a
            decide(3, "2024-08-29", "b", "restructure", "2024-08-30T10:00:00Z"),
            decide(4, "2024-08-29", "b", "reaffirm", "2024-08-30T10:00:00Z"),  # tie: g4 stands
            decide(5, "2025-02-28", "a", "exit", "2025-09-05T10:00:00Z"),  # after as_of
        ],
    )
    fit_rows = pl.DataFrame(
        {
            "partnership_id": ["P1"] * 3,
            "as_of": [date(2024, 8, 29), date(2024, 7, 30), date(2025, 2, 28)],
            "fit_score": [72.0, 48.5, None],
            "band": ["healthy", "at_risk", "insufficient_data"],
        }
    )
    out = renewal_gates(gate_rows, decisions(events, AS_OF), fit_rows, [30, 60])
    assert out.schema == gates_schema([30, 60])
    first, second = out.row(0, named=True), out.row(1, named=True)
    assert (first["decision_a"], first["decision_b"], first["outcome"]) == (
        "reaffirm",
        "reaffirm",
        "reaffirmed",
    )
    assert first["decided_on"] == date(2024, 9, 2)  # the later of the standing decisions
    assert (first["fit_score_at_gate"], first["band_at_gate"]) == (72.0, "healthy")
    assert (first["fit_score_30d_before"], first["band_30d_before"]) == (48.5, "at_risk")
    assert first["fit_score_60d_before"] is None and first["band_60d_before"] is None
    assert (second["decision_a"], second["outcome"], second["decided_on"]) == (
        None,
        "unconfirmed",
        None,
    )
    assert second["band_at_gate"] == "insufficient_data" and second["fit_score_at_gate"] is None


def test_the_auc_counts_ties_as_half_and_builds_no_pairs():
    # Failed 40 and 50 against reaffirmed 50, 60, 70: 40 < all three; 50 ties one (½) and is
    # below two: (3 + 2.5) / 6.
    assert auc(pl.Series([40.0, 50.0]), pl.Series([60.0, 50.0 + 1e-12, 70.0])) == pytest.approx(
        5.5 / 6
    )
    assert auc(pl.Series([80.0]), pl.Series([20.0])) == 0.0
    assert auc(pl.Series([], dtype=pl.Float64), pl.Series([1.0])) is None


def _gate(p, on, outcome, score, band):
    return {
        "partnership_id": p,
        "gate_on": on,
        "decision_a": None,
        "decision_b": None,
        "outcome": outcome,
        "decided_on": None,
        "fit_score_at_gate": None,
        "band_at_gate": None,
        "fit_score_30d_before": score,
        "band_30d_before": band,
    }


G = date(2025, 6, 1)


def test_the_validation_figures_by_hand():
    gate_table = pl.DataFrame(
        [
            _gate("P1", G, "reaffirmed", 80.0, "healthy"),
            _gate("P2", G, "reaffirmed", 55.0, "watch"),
            _gate("P3", G, "restructured", 45.0, "at_risk"),
            _gate("P4", G, "exited", 55.0, "watch"),
            _gate("P5", G, "reaffirmed", None, "insufficient_data"),  # decided, not scored
            _gate("P6", G, "unconfirmed", 30.0, "at_risk"),  # not decided
        ],
        schema=gates_schema([30]),
    )
    then = G - timedelta(days=30)
    alerts = pl.DataFrame(
        [
            # critical, open at G - 30: P3 (failed) and P2 (reaffirmed)
            {"alert_id": "a", "partnership_id": "P3", "rule": "at_risk", "severity": "critical",
             "opened_on": then - timedelta(days=5), "resolved_on": None},
            {"alert_id": "b", "partnership_id": "P2", "rule": "at_risk", "severity": "critical",
             "opened_on": then, "resolved_on": then + timedelta(days=1)},
            # not counted: a warning, and a critical one resolved on G - 30
            {"alert_id": "c", "partnership_id": "P4", "rule": "x", "severity": "warning",
             "opened_on": then, "resolved_on": None},
            {"alert_id": "d", "partnership_id": "P4", "rule": "y", "severity": "critical",
             "opened_on": then - timedelta(days=9), "resolved_on": then},
        ],
        schema=ALERT_SCHEMA,
    )  # fmt: skip
    row = validation(gate_table, alerts, [30], AS_OF).row(0, named=True)
    assert row["as_of"] == AS_OF and row["horizon_days"] == 30
    assert (row["decided_gates"], row["scored_gates"], row["failures"]) == (5, 4, 2)
    # Failed 45, 55 against reaffirmed 80, 55: 45 below both (2); 55 below 80 (1), ties 55 (½).
    assert row["auc"] == pytest.approx(3.5 / 4)
    assert (row["healthy_gates"], row["healthy_failures"]) == (1, 0)
    assert (row["watch_gates"], row["watch_failures"]) == (2, 1)
    assert (row["at_risk_gates"], row["at_risk_failures"]) == (1, 1)
    assert row["alert_recall"] == pytest.approx(1 / 2)  # P3 of P3, P4
    assert row["alert_precision"] == pytest.approx(1 / 2)  # P3 of P3, P2


def test_no_auc_when_every_scored_gate_failed_or_none_did_and_a_row_without_gates():
    failed = pl.DataFrame(
        [_gate("P1", G, "exited", 40.0, "at_risk"), _gate("P2", G, "restructured", 60.0, "watch")],
        schema=gates_schema([30]),
    )
    empty_alerts = pl.DataFrame(schema=ALERT_SCHEMA)
    row = validation(failed, empty_alerts, [30], AS_OF).row(0, named=True)
    assert row["failures"] == row["scored_gates"] == 2 and row["auc"] is None
    assert row["alert_recall"] == 0.0 and row["alert_precision"] is None
    kept = failed.with_columns(pl.lit("reaffirmed").alias("outcome"))
    row = validation(kept, empty_alerts, [30], AS_OF).row(0, named=True)
    assert row["failures"] == 0 and row["auc"] is None and row["alert_recall"] is None
    rows = validation(pl.DataFrame(schema=gates_schema([30, 60])), empty_alerts, [30, 60], AS_OF)
    assert rows["horizon_days"].to_list() == [30, 60]
    assert rows["decided_gates"].to_list() == [0, 0] and rows["auc"].null_count() == 2
