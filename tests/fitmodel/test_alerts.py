"""Alert episodes projected from hand-made fit-health histories (SPEC §7)."""

from __future__ import annotations

from datetime import date, timedelta

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from fitmodel.alerts import holding_days, project, update
from fitmodel.columns import COMPONENTS, fit_health_schema
from fitmodel.config import AlertRule, ConfigError, parse_config
from fitmodel.rules import RuleError, compile_rule

D0 = date(2025, 1, 1)
SCHEMA = fit_health_schema()


def history(pid: str, scores: list[float | None], change: list[float | None] | None = None):
    """Fit-health rows for consecutive days from D0 with the given fit scores."""
    n = len(scores)
    change = change or [None] * n
    rows = {c: [None] * n for c in SCHEMA}
    rows.update(
        partnership_id=[pid] * n,
        as_of=[D0 + timedelta(days=i) for i in range(n)],
        fit_score=scores,
        band=[
            "insufficient_data" if s is None else "at_risk" if s < 50 else "healthy" for s in scores
        ],
        score_change_30d=change,
        owner=[f"owner.{pid}"] * n,
        name=[f"{pid} deal"] * n,
        score_change_by_component=[
            None if c is None else {k: (c if k == "responsiveness" else 0.0) for k in COMPONENTS}
            for c in change
        ],
        top_negative_driver=[None if c is None or c >= 0 else "responsiveness" for c in change],
    )
    return pl.DataFrame(rows, schema=SCHEMA)


RULES = {
    "at_risk": AlertRule(when="band = 'at_risk'", severity="critical"),
    "score_drop": AlertRule(when="score_change_30d <= -10", severity="warning"),
}


def test_an_episode_opens_resolves_and_reopens():
    rows = history("P1", [60, 40, 45, 70, None, 30, 35])
    table = project(rows, RULES).filter(pl.col("rule") == "at_risk")
    assert table.select("opened_on", "resolved_on", "last_seen_on", "status").rows() == [
        (D0 + timedelta(days=1), D0 + timedelta(days=3), D0 + timedelta(days=2), "resolved"),
        (D0 + timedelta(days=5), None, D0 + timedelta(days=6), "open"),
    ]
    assert table["alert_id"].to_list() == ["P1:at_risk:2025-01-02", "P1:at_risk:2025-01-06"]
    assert table["severity"].unique().to_list() == ["critical"]
    assert table["owner"].unique().to_list() == ["owner.P1"]


def test_a_null_condition_does_not_hold():
    rows = history("P1", [60, 60, 60], change=[-12.0, None, -15.0])
    table = project(rows, RULES).filter(pl.col("rule") == "score_drop")
    assert table.select("opened_on", "resolved_on").rows() == [
        (D0, D0 + timedelta(days=1)),
        (D0 + timedelta(days=2), None),
    ]


def test_the_explanation_names_the_biggest_driver():
    rows = history("P1", [72.0, 57.8], change=[None, -14.2])
    table = project(rows, RULES).filter(pl.col("rule") == "score_drop")
    assert table["explanation"].to_list() == [
        "fit score fell 14.2 in 30 days (72.0 → 57.8); biggest driver: responsiveness (-14.2)"
    ]


def test_partnerships_and_rules_are_separate_and_ids_are_stable():
    rows = pl.concat([history("P1", [40, 40]), history("P2", [40, 80])])
    first = project(rows, RULES)
    again = project(pl.concat([rows, history("P1", [40, 40, 40])[2:]]), RULES)
    assert first.filter(pl.col("partnership_id") == "P2")["status"].to_list() == ["resolved"]
    assert set(first["alert_id"]) <= set(again["alert_id"])


def test_no_rows_no_alerts_and_only_holding_days_are_returned():
    assert project(pl.DataFrame(schema=SCHEMA), RULES).height == 0
    holding = holding_days(history("P1", [40, 60], change=[None, None]), RULES)
    assert holding.rows() == [("P1", D0, "at_risk")]  # a null condition does not hold
    assert project(history("P1", [40]), RULES)["rule"].to_list() == ["at_risk"]


def test_a_bad_rule_fails_configuration_with_its_name_and_the_reason():
    with pytest.raises(RuleError, match=r"'broken'.*nope"):
        compile_rule("broken", "nope > 1", SCHEMA)
    with pytest.raises(RuleError, match="not a boolean"):
        compile_rule("numeric", "fit_score + 1", SCHEMA)
    with pytest.raises(ConfigError) as error:
        parse_config({"alerts": {"rules": {"typo": {"when": "fit_scor < 50"}}}})
    assert "alert rule 'typo'" in str(error.value) and "fit_scor" in str(error.value)
    config = parse_config(
        {"alerts": {"rules": {"low": {"when": "fit_score < 40", "severity": "critical"}}}}
    )
    assert list(config.alerts.rules) == ["low"]


VALUES = st.sampled_from([None, 30.0, 45.0, 60.0, 80.0])
CHANGES = st.sampled_from([None, -25.0, -12.0, -10.0, -3.0, 4.0])


@settings(max_examples=150, deadline=None)
@given(st.data())
def test_an_update_from_the_replaced_days_equals_a_projection_of_the_whole_history(data):
    """SPEC §5-style incremental refresh: days from `start` on are replaced (and the table may
    grow or shrink at its end); the updated alerts equal those projected from scratch."""
    span = 40
    as_of_old = data.draw(st.integers(3, span - 1), label="as_of_old")
    start = data.draw(st.integers(1, as_of_old + 1), label="start")
    as_of_new = data.draw(st.integers(start - 1, span - 1), label="as_of_new")
    old_parts, new_parts = [], []
    for pid in ("P1", "P2", "P3"):
        first = data.draw(st.integers(0, 12), label=f"{pid} first")
        last = data.draw(st.one_of(st.none(), st.integers(first, span - 1)), label=f"{pid} end")
        old_scores = data.draw(st.lists(VALUES, min_size=span, max_size=span))
        old_change = data.draw(st.lists(CHANGES, min_size=span, max_size=span))
        new_scores = old_scores[:start] + data.draw(
            st.lists(VALUES, min_size=span - start, max_size=span - start)
        )
        new_change = old_change[:start] + data.draw(
            st.lists(CHANGES, min_size=span - start, max_size=span - start)
        )
        for parts, scores, change, as_of in (
            (old_parts, old_scores, old_change, as_of_old),
            (new_parts, new_scores, new_change, as_of_new),
        ):
            stop = min(as_of, span - 1 if last is None else last)
            rows = history(pid, scores, change).filter(
                pl.col("as_of").is_between(D0 + timedelta(days=first), D0 + timedelta(days=stop))
            )
            parts.append(rows)
    old, new = pl.concat(old_parts), pl.concat(new_parts)
    # A rule that must hold several days: the update must read back that far before `start`.
    rules = {
        **RULES,
        "lasting_risk": AlertRule(
            when="fit_score < 50", for_days=data.draw(st.integers(2, 8), label="for_days")
        ),
    }
    previous = project(old, rules)
    updated = update(previous, new, rules, D0 + timedelta(days=start))
    assert_frame_equal(updated, project(new, rules))


def test_a_rule_with_for_days_opens_on_the_nth_consecutive_day():
    rule = {"exit_review": AlertRule(when="band = 'at_risk'", severity="critical", for_days=3)}
    # Rows from day 1: at_risk on days 1-2 (too short: day 0 has no row), 4-8 (holds from
    # day 6), and 10-11 to the end (two days, not yet holding).
    rows = history("P1", [40, 40, 40, 80, 40, 40, 40, 40, 40, 80, 40, 40])[1:]
    table = project(rows, rule)
    assert table.select("opened_on", "resolved_on", "last_seen_on").rows() == [
        (D0 + timedelta(days=6), D0 + timedelta(days=9), D0 + timedelta(days=8)),
    ]
    held = holding_days(rows, rule)["as_of"].to_list()
    assert held == [D0 + timedelta(days=d) for d in (6, 7, 8)]


@pytest.mark.parametrize("days", [59, 60, 61])
def test_exit_review_after_59_60_and_61_days_at_risk(days):
    rule = {"exit_review": AlertRule(when="band = 'at_risk'", severity="critical", for_days=60)}
    table = project(history("P1", [80.0] + [40.0] * days), rule)
    if days < 60:
        assert table.is_empty()
    else:
        assert table.select("opened_on", "resolved_on", "status").rows() == [
            (D0 + timedelta(days=60), None, "open")
        ]


@pytest.mark.parametrize(
    "when",
    [
        "true) AS holds FROM fit_health; COPY (SELECT * FROM read_csv('/etc/passwd')) TO 'x'; "
        "SELECT (true",
        "read_text('/etc/passwd') IS NOT NULL",
        "fit_score IN (SELECT 1)",
        "fit_score < 50; ATTACH 'stolen.db'",
        "INSTALL httpfs",
        "",
    ],
)
def test_a_rule_is_one_expression_over_the_columns_and_nothing_else(when, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ConfigError) as error:
        parse_config({"alerts": {"rules": {"sneaky": {"when": when}}}})
    assert "sneaky" in str(error.value)
    assert list(tmp_path.iterdir()) == []  # nothing was written or attached


@pytest.mark.parametrize("name", ["x' || (SELECT 1) || '", "1st", "a b", "drop;table", "é"])
def test_a_rule_name_is_an_identifier(name):
    with pytest.raises(ConfigError, match="identifier"):
        parse_config({"alerts": {"rules": {name: {"when": "fit_score < 50"}}}})


def test_a_rule_that_fails_on_the_data_names_the_rule():
    rule = {"casts": AlertRule(when="CAST(name AS INTEGER) > 0")}
    with pytest.raises(RuleError, match="'casts' failed on the fit_health rows"):
        project(history("P1", [40.0]), rule)
