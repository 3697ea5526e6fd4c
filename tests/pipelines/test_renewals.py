"""Renewal gates and validation published by real refreshes, and `corners validate`."""

from __future__ import annotations

from datetime import date

import polars as pl

from store.home import Home
from tests.helpers import corners, registry_csv, renewal_decision, survey, write_lines


def refresh(home: Home, landing, as_of: str):
    return corners("refresh", "--home", str(home.root), "--landing", str(landing), "--as-of",
                   as_of, "--quiet", check=True)  # fmt: skip


def test_gates_and_validation_follow_the_decisions_and_stay_readable_by_day(tmp_path):
    landing, home = tmp_path / "landing", Home(tmp_path / "home")
    landing.mkdir()
    (landing / "partnerships.csv").write_text(
        registry_csv([("P1", "2024-01-01", ""), ("P2", "2024-01-01", ""), ("P3", "2024-01-01", "")])
    )
    # Surveys give every partnership a score: P1 high, P2 low, P3 middling.
    write_lines(
        landing / "surveys" / "s.jsonl",
        [
            survey(f"s{p}{side}", pid=p, at="2024-05-01T10:00:00Z", side=side, scores=(s,) * 4)
            for p, s in (("P1", 9), ("P2", 2), ("P3", 6))
            for side in "ab"
        ],
    )
    write_lines(
        landing / "governance" / "g.jsonl",
        [
            renewal_decision("g1", "2024-07-01", "a", "reaffirm", "P1", "2024-07-02T10:00:00Z"),
            renewal_decision("g2", "2024-07-01", "b", "reaffirm", "P1", "2024-07-03T10:00:00Z"),
            renewal_decision("g3", "2024-07-01", "a", "exit", "P2", "2024-07-02T10:00:00Z"),
            renewal_decision("g4", "2024-07-02", "a", "exit", "P3", "2024-07-02T10:00:00Z"),
        ],
    )
    first = refresh(home, landing, "2024-08-31")
    assert "check renewal_decisions_for_no_gate warns" in first.stderr  # g4: no gate
    gates = pl.read_delta(str(home.path("renewal_gates"))).sort("partnership_id")
    assert gates.select("partnership_id", "gate_on", "outcome", "decided_on").rows() == [
        ("P1", date(2024, 7, 1), "reaffirmed", date(2024, 7, 3)),
        ("P2", date(2024, 7, 1), "exited", date(2024, 7, 2)),
        ("P3", date(2024, 7, 1), "unconfirmed", None),
    ]
    row = (
        pl.read_delta(str(home.path("validation")))
        .filter(pl.col("horizon_days") == 30)
        .row(0, named=True)
    )
    assert (row["as_of"], row["decided_gates"], row["scored_gates"], row["failures"]) == (
        date(2024, 8, 31),
        2,
        2,
        1,
    )
    assert row["auc"] == 1.0  # the failed P2 scored below the reaffirmed P1
    assert (row["at_risk_gates"], row["at_risk_failures"]) == (2, 1)  # surveys alone: at_risk

    # A late decision turns P3's gate into a failure; the earlier table stays readable.
    write_lines(
        landing / "governance" / "late.jsonl",
        [renewal_decision("g5", "2024-07-01", "b", "restructure", "P3", "2024-07-20T10:00:00Z")],
    )
    refresh(home, landing, "2024-09-01")
    gates = pl.read_delta(str(home.path("renewal_gates"))).sort("partnership_id")
    assert gates["outcome"].to_list() == ["reaffirmed", "exited", "restructured"]
    now = corners("validate", "--home", str(home.root), check=True).stdout
    assert "at 30 days, partnerships that later failed their gate" in now
    assert "2 of 2 failures were at_risk or watch" in now
    before = corners("validate", "--home", str(home.root), "--as-of", "2024-08-31",
                     "--format", "csv", check=True).stdout  # fmt: skip
    assert before.splitlines()[0].startswith("as_of,horizon_days,decided_gates")
    assert before.splitlines()[1].startswith("2024-08-31,30,2,2,1,")
    missing = corners("validate", "--home", str(home.root), "--as-of", "2020-01-01")
    assert missing.returncode == 2 and "no validation table for as_of 2020-01-01" in missing.stderr
